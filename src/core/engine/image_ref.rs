//! Splitting an image reference the way the engine's pull endpoint wants it.

/// `(fromImage, tag)` for `POST /images/create`. Without a tag the engine
/// would pull every tag of the repository, so a bare name gets `latest`; a
/// digest reference travels whole, with no tag.
pub(crate) fn pull_parts(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_owned(), None);
    }
    let last_segment_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_segment_start..].rfind(':') {
        Some(i) => {
            let at = last_segment_start + i;
            (image[..at].to_owned(), Some(image[at + 1..].to_owned()))
        }
        None => (image.to_owned(), Some("latest".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::pull_parts;

    #[test]
    fn splits_tags_not_registry_ports() {
        assert_eq!(pull_parts("mercury-agent:1.2"), ("mercury-agent".into(), Some("1.2".into())));
        assert_eq!(pull_parts("busybox"), ("busybox".into(), Some("latest".into())));
        assert_eq!(
            pull_parts("127.0.0.1:5000/team/agent"),
            ("127.0.0.1:5000/team/agent".into(), Some("latest".into()))
        );
        assert_eq!(pull_parts("127.0.0.1:5000/agent:v2"), ("127.0.0.1:5000/agent".into(), Some("v2".into())));
        assert_eq!(pull_parts("repo/agent@sha256:abc"), ("repo/agent@sha256:abc".into(), None));
    }
}
