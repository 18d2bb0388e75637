fn main() {
    println!("accord: not yet");
}
