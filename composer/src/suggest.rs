//! Did-you-mean suggestions for unknown names (fields, params, features,
//! enum variants, keys), shared by the loader and the guard checker.

/// The closest candidate to `name`, if one is close enough to be a likely
/// typo: a case-insensitive match, or an edit distance of at most a third of
/// the name's length (at least 1), like cargo's suggestions.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = if c.to_lowercase() == lower {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &c.to_lowercase())
        };
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// "a, b or c" for a list of valid choices, each in backquotes. Long lists
/// are cut after `max` items with a count of the rest.
pub fn choices<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let names: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match names.len() {
        0 => "(none)".to_string(),
        1 => names[0].clone(),
        n if n > max => format!("{} and {} more", names[..max].join(", "), n - max),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let c = ["TCP_BPF_IW", "TCP_BPF_RTO_MIN", "remote_ip4", "remote_port"];
        assert_eq!(did_you_mean("TCP_BPF_IX", c).as_deref(), Some("TCP_BPF_IW"));
        assert_eq!(did_you_mean("remote_ip", c).as_deref(), Some("remote_ip4"));
        assert_eq!(did_you_mean("tcp_bpf_iw", c).as_deref(), Some("TCP_BPF_IW"));
        assert_eq!(did_you_mean("family", c), None);
    }

    #[test]
    fn lists_choices() {
        assert_eq!(choices(&["a"], 5), "`a`");
        assert_eq!(choices(&["a", "b", "c"], 5), "`a`, `b` or `c`");
        assert_eq!(choices(&["a", "b", "c"], 2), "`a`, `b` and 1 more");
    }
}
