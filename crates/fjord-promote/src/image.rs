//! Image references as `fjord image set` takes them: `NAME=IMAGE[:TAG|@DIGEST]`, with kustomize's
//! `edit set image` meaning: the `images` entry `NAME` gets `newName: IMAGE` when IMAGE differs
//! from NAME, and `newTag: TAG` or `digest: DIGEST` (one replaces the other).

use crate::Error;

/// One image change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// The image name the manifests use (`images[].name`).
    pub name: String,
    /// The replacement name, when it differs.
    pub new_name: Option<String>,
    /// The new tag or digest.
    pub version: Version,
}

/// A tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// `newTag`.
    Tag(String),
    /// `digest` (`sha256:...`).
    Digest(String),
    /// Only the name changes.
    None,
}

impl ImageSet {
    /// Parses `NAME=IMAGE[:TAG|@DIGEST]` (or `IMAGE:TAG`, meaning NAME = IMAGE).
    pub fn parse(arg: &str) -> Result<ImageSet, Error> {
        let bad = |why: &str| Error::InvalidImage {
            arg: arg.to_string(),
            why: why.to_string(),
        };
        let (name, reference) = match arg.split_once('=') {
            Some((n, r)) => (n.to_string(), r),
            None => (String::new(), arg),
        };
        let (image, version) = if let Some((image, digest)) = reference.split_once('@') {
            if !digest.contains(':') {
                return Err(bad("a digest looks like sha256:<hex>"));
            }
            (image.to_string(), Version::Digest(digest.to_string()))
        } else {
            // A tag is after the last ':' that comes after the last '/' (a registry port is not a tag).
            let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
            match reference[slash..].rfind(':') {
                Some(i) => (
                    reference[..slash + i].to_string(),
                    Version::Tag(reference[slash + i + 1..].to_string()),
                ),
                None => (reference.to_string(), Version::None),
            }
        };
        if image.is_empty() {
            return Err(bad("the image name is empty"));
        }
        if let Version::Tag(t) = &version
            && (t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(bad("a tag is letters, digits, '_', '.' and '-'"));
        }
        if image.chars().any(|c| c.is_whitespace()) || name.chars().any(|c| c.is_whitespace()) {
            return Err(bad("image names have no spaces"));
        }
        let name = if name.is_empty() { image.clone() } else { name };
        let new_name = (image != name).then_some(image);
        Ok(ImageSet {
            name,
            new_name,
            version,
        })
    }

    /// `IMAGE:TAG` / `IMAGE@DIGEST` as it will run, for messages.
    pub fn display_ref(&self) -> String {
        let image = self.new_name.as_deref().unwrap_or(&self.name);
        match &self.version {
            Version::Tag(t) => format!("{image}:{t}"),
            Version::Digest(d) => format!("{image}@{d}"),
            Version::None => image.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kustomize_edit_set_image_forms() {
        let s = ImageSet::parse("app=ghcr.io/org/app:1.2.3").unwrap();
        assert_eq!(s.name, "app");
        assert_eq!(s.new_name.as_deref(), Some("ghcr.io/org/app"));
        assert_eq!(s.version, Version::Tag("1.2.3".into()));
        let s = ImageSet::parse("nginx=nginx:1.27").unwrap();
        assert_eq!(s.new_name, None);
        let s = ImageSet::parse("registry:5000/app:v2").unwrap();
        assert_eq!(s.name, "registry:5000/app");
        assert_eq!(s.version, Version::Tag("v2".into()));
        let s = ImageSet::parse("app=app@sha256:abcd").unwrap();
        assert_eq!(s.version, Version::Digest("sha256:abcd".into()));
        assert_eq!(s.display_ref(), "app@sha256:abcd");
        assert!(ImageSet::parse("app=app:bad tag").is_err());
        assert!(ImageSet::parse("app=@sha256:x").is_err());
        assert!(ImageSet::parse("app=app@nodigest").is_err());
    }
}
