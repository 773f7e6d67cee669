//! The bearer token of the admin endpoint: generated at the server's first start into its
//! data directory (`admin.token`, mode 0600), or given as a file; read by the
//! `diameter ocs|sip ...` commands from the same file. Compared in constant time.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// The file name of the token in the data directory.
pub const FILE_NAME: &str = "admin.token";
/// The shortest token accepted (characters); generated tokens have 64 (256 bits, hex).
pub const MIN_LEN: usize = 16;
/// The longest token accepted (characters).
pub const MAX_LEN: usize = 1024;

/// Why a token could not be read or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Reading, creating or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The token file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file's content is not a usable token.
    #[error("{path}: {why}")]
    Invalid {
        /// The token file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Checks a token: [`MIN_LEN`] to [`MAX_LEN`] visible ASCII characters (it goes in an HTTP
/// header).
pub fn check(token: &str) -> Result<(), String> {
    if token.len() < MIN_LEN {
        return Err(format!("the token is shorter than {MIN_LEN} characters"));
    }
    if token.len() > MAX_LEN {
        return Err(format!("the token is longer than {MAX_LEN} characters"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token must be visible ASCII characters without blanks".into());
    }
    Ok(())
}

/// Where the server keeps its token when no file is given: next to its SQLite store
/// (`sqlite://DIR/ocs.db` → `DIR/admin.token`), else in the working directory (in-memory
/// or PostgreSQL store). The OCS and SIP server of one directory share it.
pub fn default_path(store_url: &str) -> PathBuf {
    let sqlite = store_url
        .strip_prefix("sqlite://")
        .or_else(|| store_url.strip_prefix("sqlite:"));
    let file = match sqlite {
        Some(p) if p != ":memory:" && !p.is_empty() => Path::new(p),
        _ => return PathBuf::from(FILE_NAME),
    };
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(FILE_NAME),
        _ => PathBuf::from(FILE_NAME),
    }
}

/// A new random token: 32 bytes from the OS, in hex.
pub fn generate() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Reads the token in `path` (surrounding blanks and the final newline ignored).
pub fn read(path: &Path) -> Result<String, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim().to_string();
    check(&token).map_err(|why| TokenError::Invalid {
        path: path.to_owned(),
        why,
    })?;
    Ok(token)
}

/// The server side: reads the token in `path`, or creates the file with a new token
/// (mode 0600, never overwriting) when it does not exist. Returns the token and whether it
/// was created. Warns when an existing file can be read by others.
pub fn load_or_create(path: &Path) -> Result<(String, bool), TokenError> {
    let io = |source| TokenError::Io {
        path: path.to_owned(),
        source,
    };
    // Bounded: a dangling symbolic link reads as missing but cannot be created.
    for _ in 0..3 {
        match std::fs::metadata(path) {
            Ok(meta) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(
                            path = %path.display(),
                            "the admin token file can be read by other users: chmod 600 it"
                        );
                    }
                }
                #[cfg(not(unix))]
                let _ = meta;
                return read(path).map(|t| (t, false));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let token = generate().map_err(io)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut f) => {
                f.write_all(format!("{token}\n").as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(io)?;
                return Ok((token, true));
            }
            // Another process created it meanwhile: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(e)),
        }
    }
    Err(TokenError::Invalid {
        path: path.to_owned(),
        why: "neither readable nor creatable (a dangling symbolic link?)".into(),
    })
}

/// Whether `given` is `expected`, in time independent of where they differ and of their
/// lengths (both are hashed first, the digests compared in constant time).
pub fn matches(expected: &str, given: &str) -> bool {
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// The token of an `Authorization: Bearer TOKEN` header value (scheme in any case).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_next_to_the_store() {
        assert_eq!(
            default_path("sqlite://./ocs.db"),
            Path::new("./admin.token")
        );
        assert_eq!(
            default_path("sqlite:///var/lib/ocs/ocs.db"),
            Path::new("/var/lib/ocs/admin.token")
        );
        assert_eq!(default_path("sqlite://ocs.db"), Path::new("admin.token"));
        assert_eq!(default_path("sqlite::memory:"), Path::new("admin.token"));
        assert_eq!(
            default_path("postgres://u@db/ocs"),
            Path::new("admin.token")
        );
    }

    #[test]
    fn created_once_with_mode_0600_then_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let (t1, created) = load_or_create(&path).expect("create");
        assert!(created);
        assert_eq!(t1.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (t2, created) = load_or_create(&path).expect("read");
        assert_eq!((t2.as_str(), created), (t1.as_str(), false));
        assert_eq!(read(&path).expect("read").as_str(), t1.as_str());
        std::fs::write(&path, "short\n").expect("write");
        assert!(matches!(read(&path), Err(TokenError::Invalid { .. })));
        std::fs::write(&path, "has a blank inside it\n").expect("write");
        assert!(matches!(read(&path), Err(TokenError::Invalid { .. })));
        #[cfg(unix)]
        {
            let link = dir.path().join("dangling.token");
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).expect("symlink");
            assert!(load_or_create(&link).is_err());
            assert!(!dir.path().join("nowhere").exists());
        }
    }

    #[test]
    fn compare_and_bearer() {
        let t = "0123456789abcdef0123";
        assert!(matches(t, t));
        assert!(!matches(t, "0123456789abcdef0124"));
        assert!(!matches(t, ""));
        assert!(!matches(t, &format!("{t}x")));
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
