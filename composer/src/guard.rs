//! (front end, in progress)
