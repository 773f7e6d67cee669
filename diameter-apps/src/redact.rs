//! Store URLs as they may be shown: in logs and `--check` output a password never appears.

/// `url` with its password replaced by `***`: the `user:password@` part of
/// `postgres://user:password@host/db`, and `password=` in a query or key-value string.
pub fn store_url(url: &str) -> String {
    let mut out = url.to_owned();
    // user:password@ after the scheme.
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    // password=... in a query string or a key-value connection string.
    let mut search = 0;
    while let Some(i) = out[search..].find("password=") {
        let start = search + i + "password=".len();
        let end = out[start..]
            .find(['&', ' ', ';'])
            .map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
        search = start + 3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::store_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            store_url("postgres://ocs:s3cr@t@db.example:5432/ocs"),
            "postgres://ocs:***@db.example:5432/ocs"
        );
        assert_eq!(
            store_url("postgres://ocs@db/ocs?sslmode=require&password=hunter2"),
            "postgres://ocs@db/ocs?sslmode=require&password=***"
        );
        assert_eq!(
            store_url("host=db user=ocs password=hunter2 dbname=ocs"),
            "host=db user=ocs password=*** dbname=ocs"
        );
        assert_eq!(store_url("sqlite://./ocs.db"), "sqlite://./ocs.db");
        assert_eq!(store_url("postgres://ocs@db/ocs"), "postgres://ocs@db/ocs");
    }
}
