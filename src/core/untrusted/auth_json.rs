//! The built-in credential resolver: an unexpired Anthropic OAuth token from `auth.json`.
//!
//! `auth.json` lives in `globalDir`, which by default every container mounts
//! read-write (with `isolateSpaces`, none can write it: see `agent_dir`):
//! the agent can replace it with a link, a FIFO, a device or a huge file. It is
//! read without following a link, without blocking, regular files only, with a
//! size cap; anything else is [`AuthFile::Refused`], one warn line for the
//! caller, and the run goes on without the built-in credential.

use std::fmt;
use std::io::Read;
use std::path::Path;

#[cfg(unix)]
use super::auth_json_fs_unix::open_auth_file;
#[cfg(windows)]
use super::auth_json_fs_windows::open_auth_file;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The largest `auth.json` read. A real one is a few hundred bytes; the cap
/// keeps a file the agent inflated from costing the host its size on every reply.
pub(crate) const MAX_AUTH_FILE_BYTES: u64 = 1024 * 1024;

/// What reading `auth.json` gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthFile {
    /// No such file (nothing to say: the user simply has no login there).
    Missing,
    /// The file's text.
    Text(String),
    /// The file is there but was not read; the reason, for one warn line
    /// (it names the path, never the content).
    Refused(String),
}

/// Reads `path` as the built-in resolver may: the last component must not be a
/// link, must be a regular file (never a device or FIFO, and never waiting on
/// one), at most [`MAX_AUTH_FILE_BYTES`], and UTF-8. How the file is opened and
/// checked is the platform's (`auth_json_fs_unix.rs`, `auth_json_fs_windows.rs`);
/// the bounded read and the decoding are shared.
///
/// Blocking (it does file I/O): call it from `spawn_blocking` under the run's
/// deadline. The folders above the file are the operator's and are followed.
pub(crate) fn read_auth_file(path: &Path) -> AuthFile {
    let refused = |why: String| AuthFile::Refused(format!("{} {why}", path.display()));
    let file = match open_auth_file(path, MAX_AUTH_FILE_BYTES) {
        Ok(Some(file)) => file,
        Ok(None) => return AuthFile::Missing,
        Err(why) => return refused(why),
    };
    let bytes = match read_capped(file, MAX_AUTH_FILE_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return refused(format!("grew over the {MAX_AUTH_FILE_BYTES} bytes read")),
        Err(e) => return refused(format!("cannot be read: {e}")),
    };
    match String::from_utf8(bytes) {
        Ok(text) => AuthFile::Text(text),
        Err(_) => refused("is not UTF-8".into()),
    }
}

/// Reads at most `cap + 1` bytes: `None` when there were more than `cap`.
fn read_capped(reader: impl Read, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// What the built-in resolver found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BuiltinCredential {
    /// A usable access token.
    Token(String),
    /// The token in the file has expired; only the host's resolver can refresh it.
    Expired,
    /// No usable `anthropic` OAuth entry (or no readable file).
    None,
}

/// Whether the built-in resolver applies at all: only for `anthropic`, and
/// only while the host environment carries no Anthropic key or token. Checked
/// before `auth.json` is read, so the file is not touched when it cannot matter.
pub(crate) fn builtin_applies(provider: &str, host_env: &[(String, String)]) -> bool {
    const SECRET_VARS: [&str; 2] = ["MERCURY_ANTHROPIC_API_KEY", "MERCURY_ANTHROPIC_OAUTH_TOKEN"];
    provider == "anthropic" && !host_env.iter().any(|(n, v)| SECRET_VARS.contains(&n.as_str()) && !v.is_empty())
}

/// The `anthropic` OAuth entry of `auth.json` (its text; None when unreadable).
///
/// Only the members used are kept; everything else is skipped as
/// [`IgnoredAny`] without building a tree. For duplicate keys the last one
/// wins, as with `JSON.parse`; a number out of f64 range in a skipped member
/// does not fail the whole file (`JSON.parse` accepts it too).
pub(crate) fn builtin_credential(auth_json: Option<&str>, now_ms: u64) -> BuiltinCredential {
    let Some(entry) = auth_json.and_then(|text| serde_json::from_str::<AuthJson>(text).ok()).and_then(|a| a.anthropic)
    else {
        return BuiltinCredential::None;
    };
    let (Some(Member::Str(kind)), Some(Member::Str(access)), Some(Member::Str(_refresh)), Some(Member::Num(expires))) =
        (entry.kind, entry.access, entry.refresh, entry.expires)
    else {
        return BuiltinCredential::None;
    };
    if kind != "oauth" {
        return BuiltinCredential::None;
    }
    if (now_ms as f64) < expires {
        BuiltinCredential::Token(access)
    } else {
        BuiltinCredential::Expired
    }
}

// The shapes below are written by hand rather than derived: a derived struct
// rejects a duplicate key (JSON.parse keeps the last) and accepts an array in
// place of an object (filling fields by position), both of which would change
// which files give a token.

/// The top level of `auth.json`: only an object has an `anthropic` member.
struct AuthJson {
    /// The last `anthropic` member, when it is an object.
    anthropic: Option<Entry>,
}

impl<'de> Deserialize<'de> for AuthJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = AuthJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AuthJson, A::Error> {
                let mut anthropic = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "anthropic" {
                        anthropic = map.next_value::<MaybeEntry>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(AuthJson { anthropic })
            }
        }
        deserializer.deserialize_any(TopVisitor)
    }
}

/// The members of the `anthropic` entry that matter, last occurrence each.
#[derive(Default)]
struct Entry {
    kind: Option<Member>,
    access: Option<Member>,
    refresh: Option<Member>,
    expires: Option<Member>,
}

/// The `anthropic` member: an [`Entry`] when it is an object, else nothing
/// (any other JSON value is consumed, not an error).
struct MaybeEntry(Option<Entry>);

impl<'de> Deserialize<'de> for MaybeEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = MaybeEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeEntry, A::Error> {
                let mut entry = Entry::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "type" => &mut entry.kind,
                        "access" => &mut entry.access,
                        "refresh" => &mut entry.refresh,
                        "expires" => &mut entry.expires,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value::<Member>()?);
                }
                Ok(MaybeEntry(Some(entry)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeEntry, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| MaybeEntry(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeEntry, E> {
                Ok(MaybeEntry(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeEntry, E> {
                Ok(MaybeEntry(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeEntry, E> {
                Ok(MaybeEntry(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeEntry, E> {
                Ok(MaybeEntry(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<MaybeEntry, E> {
                Ok(MaybeEntry(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MaybeEntry, E> {
                Ok(MaybeEntry(None))
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

/// One member's value, as far as the resolver cares: a string, a number, or
/// something else (consumed without being kept).
enum Member {
    Str(String),
    Num(f64),
    Other,
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor;
        impl<'de> Visitor<'de> for MemberVisitor {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Member, E> {
                Ok(Member::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Member, E> {
                Ok(Member::Str(v))
            }
            // As `Value::as_f64`: every JSON number is an f64 here.
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Member, E> {
                Ok(Member::Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Member, E> {
                Ok(Member::Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Member, E> {
                Ok(Member::Num(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Member, E> {
                Ok(Member::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Member, E> {
                Ok(Member::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Member, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Member::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Member::Other)
            }
        }
        deserializer.deserialize_any(MemberVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn auth(expires: u64) -> String {
        format!(r#"{{"anthropic":{{"type":"oauth","access":"tok-a","refresh":"tok-r","expires":{expires}}}}}"#)
    }

    #[test]
    fn gives_an_unexpired_token() {
        assert_eq!(builtin_credential(Some(&auth(NOW + 1)), NOW), BuiltinCredential::Token("tok-a".into()));
    }

    #[test]
    fn an_expired_token_is_reported_not_returned() {
        assert_eq!(builtin_credential(Some(&auth(NOW)), NOW), BuiltinCredential::Expired);
    }

    #[test]
    fn stands_aside_for_env_secrets_and_other_providers() {
        let env = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
        assert!(builtin_applies("anthropic", &[]));
        assert!(!builtin_applies("anthropic", &env("MERCURY_ANTHROPIC_API_KEY", "k")));
        assert!(!builtin_applies("anthropic", &env("MERCURY_ANTHROPIC_OAUTH_TOKEN", "t")));
        assert!(builtin_applies("anthropic", &env("MERCURY_ANTHROPIC_API_KEY", "")));
        assert!(builtin_applies("anthropic", &env("MERCURY_OTHER", "x")));
        assert!(!builtin_applies("openai", &[]));
    }

    #[test]
    fn the_last_duplicate_key_wins_as_in_json_parse() {
        let t = format!(
            r#"{{"anthropic":5,"anthropic":{{"type":"api","type":"oauth","access":1,"access":"a2","refresh":"r","expires":{}}}}}"#,
            NOW + 1
        );
        assert_eq!(builtin_credential(Some(&t), NOW), BuiltinCredential::Token("a2".into()));
        // A usable entry followed by a later non-object one: the later one counts.
        let entry = format!(r#"{{"type":"oauth","access":"a","refresh":"r","expires":{}}}"#, NOW + 1);
        let first = format!(r#"{{"anthropic":{entry}}}"#);
        assert_eq!(builtin_credential(Some(&first), NOW), BuiltinCredential::Token("a".into()));
        let t = format!(r#"{{"anthropic":{entry},"anthropic":[1]}}"#);
        assert_eq!(builtin_credential(Some(&t), NOW), BuiltinCredential::None);
    }

    #[test]
    fn other_members_are_skipped_whatever_they_hold() {
        let t = format!(
            r#"{{"openai":{{"deep":[[[{{"x":null}}]]],"n":1.5e300}},"anthropic":{{"extra":[true,false],"type":"oauth","access":"a","refresh":"r","expires":{}}}}}"#,
            NOW + 1
        );
        assert_eq!(builtin_credential(Some(&t), NOW), BuiltinCredential::Token("a".into()));
    }

    #[test]
    fn an_array_in_place_of_an_object_gives_nothing() {
        // A derived struct would fill fields from an array by position; JSON.parse's p.anthropic.type would not.
        for t in [
            format!(r#"{{"anthropic":["oauth","a","r",{}]}}"#, NOW + 1),
            format!(r#"[{{"type":"oauth","access":"a","refresh":"r","expires":{}}}]"#, NOW + 1),
        ] {
            assert_eq!(builtin_credential(Some(&t), NOW), BuiltinCredential::None, "{t}");
        }
    }

    #[test]
    fn unusable_files_give_nothing() {
        for text in [
            None,
            Some("not json"),
            Some("[]"),
            Some(r#"{"anthropic":{"type":"api","key":"k"}}"#),
            Some(r#"{"anthropic":{"type":"oauth","access":"a","expires":9999999999999}}"#),
            Some(r#"{"anthropic":{"type":"oauth","access":"a","refresh":"r","expires":"soon"}}"#),
            Some(r#"{"anthropic":{"type":"oauth","access":1,"refresh":"r","expires":9999999999999}}"#),
            Some(r#"{"anthropic":{"type":"oauth","access":"a","refresh":"r","expires":9999999999999}} x"#),
            Some(r#"{"anthropic":{"type":"oauth","access":"a","refresh":"r","expires":1e400}}"#),
            Some(r#"{"anthropic":null}"#),
            Some(r#"{"anthropic":"oauth"}"#),
        ] {
            assert_eq!(builtin_credential(text, NOW), BuiltinCredential::None, "{text:?}");
        }
    }

    /// The open and the read, on every platform (the Windows open runs under
    /// wine by `npm run test:windows`, which picks the tests named "windows").
    mod file_on_unix_and_windows {
        use super::super::*;
        use std::fs;
        use std::sync::mpsc;
        use std::time::Duration;

        /// Runs `read_auth_file` on a thread and fails the test if it has not answered in 5 s.
        pub(super) fn read_promptly(path: &Path) -> AuthFile {
            let (tx, rx) = mpsc::channel();
            let path = path.to_owned();
            std::thread::spawn(move || {
                let _ = tx.send(read_auth_file(&path));
            });
            rx.recv_timeout(Duration::from_secs(5)).expect("read_auth_file blocked")
        }

        pub(super) fn refused_with(got: AuthFile, what: &str) {
            match got {
                AuthFile::Refused(reason) => assert!(reason.contains(what), "{reason}"),
                other => panic!("expected a refusal ({what}), got {other:?}"),
            }
        }

        #[test]
        fn a_regular_file_is_read_and_a_missing_one_is_missing() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("auth.json");
            assert_eq!(read_promptly(&path), AuthFile::Missing);
            assert_eq!(read_promptly(&dir.path().join("no-such-folder").join("auth.json")), AuthFile::Missing);
            fs::write(&path, "{}").unwrap();
            assert_eq!(read_promptly(&path), AuthFile::Text("{}".into()));
        }

        #[test]
        fn a_folder_is_refused() {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("auth.json")).unwrap();
            refused_with(read_promptly(&dir.path().join("auth.json")), "not a regular file");
        }

        #[test]
        fn a_2_mib_file_is_refused_by_its_size_and_one_at_the_cap_is_read() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("auth.json");
            fs::write(&path, vec![b' '; 2 * 1024 * 1024]).unwrap();
            refused_with(read_promptly(&path), "2097152 bytes");
            fs::File::options().write(true).open(&path).unwrap().set_len(MAX_AUTH_FILE_BYTES).unwrap();
            assert!(matches!(read_promptly(&path), AuthFile::Text(t) if t.len() == MAX_AUTH_FILE_BYTES as usize));
        }

        #[test]
        fn a_file_open_for_writing_elsewhere_is_still_read() {
            // Windows' share mode: the user's login tool may hold it open.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("auth.json");
            fs::write(&path, "{}").unwrap();
            let _writer = fs::File::options().write(true).open(&path).unwrap();
            assert_eq!(read_promptly(&path), AuthFile::Text("{}".into()));
        }

        #[test]
        fn the_read_itself_stops_one_byte_past_the_cap() {
            // An endless reader: if the read were not bounded this would never return.
            assert_eq!(read_capped(std::io::repeat(b'x'), 10).unwrap(), None);
            let counted = CountingReader { inner: std::io::repeat(b'x'), read: 0 };
            let mut counted = counted;
            assert_eq!(read_capped(&mut counted, 1024).unwrap(), None);
            assert_eq!(counted.read, 1025);
            assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        }

        struct CountingReader<R> {
            inner: R,
            read: usize,
        }

        impl<R: std::io::Read> std::io::Read for CountingReader<R> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.inner.read(buf)?;
                self.read += n;
                Ok(n)
            }
        }

        #[test]
        fn not_utf8_is_refused() {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("auth.json"), b"{\"a\":\"\xff\"}").unwrap();
            refused_with(read_promptly(&dir.path().join("auth.json")), "not UTF-8");
        }
    }

    /// What only the Windows open meets: a link it made itself (wine makes none).
    #[cfg(windows)]
    mod windows_file {
        use super::file_on_unix_and_windows::{read_promptly, refused_with};
        use std::fs;

        #[test]
        fn a_symbolic_link_is_refused_not_followed() {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("real.json"), r#"{"anthropic":{}}"#).unwrap();
            let link = dir.path().join("auth.json");
            let made = std::os::windows::fs::symlink_file(dir.path().join("real.json"), &link);
            if !crate::core::untrusted::outbox_fs::windows_tests::made_link(made, &link, "auth.json symbolic link") {
                return;
            }
            refused_with(read_promptly(&link), "symbolic link");
        }
    }

    /// What only the unix open meets: FIFOs, devices and links.
    #[cfg(unix)]
    mod unix_file {
        use super::super::*;
        use super::file_on_unix_and_windows::{read_promptly, refused_with};
        use std::fs;
        use std::os::unix::fs::symlink;
        use std::time::{Duration, Instant};

        #[test]
        fn a_fifo_is_refused_promptly() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("auth.json");
            crate::core::untrusted::outbox::make_fifo(&path);
            let started = Instant::now();
            refused_with(read_promptly(&path), "not a regular file");
            assert!(started.elapsed() < Duration::from_secs(5));
        }

        #[test]
        fn a_device_is_refused_without_reading() {
            refused_with(read_promptly(Path::new("/dev/zero")), "not a regular file");
        }

        #[test]
        fn a_symlink_to_a_real_file_is_refused() {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("real.json"), r#"{"anthropic":{}}"#).unwrap();
            symlink(dir.path().join("real.json"), dir.path().join("auth.json")).unwrap();
            refused_with(read_promptly(&dir.path().join("auth.json")), "symbolic link");
        }
    }
}
