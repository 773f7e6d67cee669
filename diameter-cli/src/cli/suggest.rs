//! "Did you mean" suggestions by edit distance.

/// Levenshtein distance, ASCII case-insensitive.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<u8> = a.bytes().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<u8> = b.bytes().map(|c| c.to_ascii_lowercase()).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Up to three candidates close to `word`, nearest first.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (word.len() / 4).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names() {
        assert_eq!(distance("Rating-Grp", "Rating-Group"), 2);
        let names = ["Rating-Group", "Result-Code", "Session-Id"];
        assert_eq!(
            closest("rating-grp", names.iter().copied()),
            ["Rating-Group"]
        );
        assert!(closest("zzzzzz", names.iter().copied()).is_empty());
    }
}
