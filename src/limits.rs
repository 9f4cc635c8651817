//! The one table of OCI field limits ([`ALL`]): name lengths and characters, description
//! length, email shape and freeform/defined tag sizes. Both sides read it — the manifest
//! loader (`manifest::load`, so `ociam validate` refuses offline) and the emulator's request
//! validation (`emulator::store`, `emulator::http`) — so what `validate` accepts and what the
//! emulator accepts cannot disagree.
//!
//! Pure core: no I/O. A check never echoes the value it refuses (a value may be a secret
//! pasted by mistake); it describes the value by its length and the limit.
//!
//! Sources: PERMISSIONS.md §6 and API.md §2–§3 (names, the 0–400 description seen in OCI's
//! "description size must be between 0 and 400"). Tag sizes follow OCI's tagging limits
//! ("Tagging Overview → Tag limits": a tag key or namespace at most 100 characters, a tag value
//! at most 256 characters). OCI documents no email length; 254 is the longest address SMTP can
//! carry (RFC 5321 §4.5.3.1.3, a 256-octet path including the angle brackets).

/// Which characters a field may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// Any text.
    Any,
    /// ASCII letters, digits and `-`, `.`, `_`, `+`, `@` (user names).
    UserName,
    /// ASCII letters, digits and `-`, `.`, `_` (group names).
    GroupName,
    /// `local@domain`: exactly one `@`, both sides non-empty, no whitespace or control
    /// characters.
    Email,
}

/// The limits of one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLimit {
    /// The field, as messages name it (`description`, `user name`, …).
    pub field: &'static str,
    /// The JSON name of the field in OCI requests.
    pub api_field: &'static str,
    /// The fewest characters allowed.
    pub min_chars: usize,
    /// The most characters allowed.
    pub max_chars: usize,
    /// Which characters are allowed.
    pub charset: Charset,
    /// The manifest key that carries this field, or `None` when a manifest cannot write it
    /// (tags are ociam's own and always fit).
    pub manifest_key: Option<&'static str>,
}

/// User names: 1–100 of ASCII letters, digits, `-`, `.`, `_`, `+`, `@` (PERMISSIONS.md §6).
pub const USER_NAME: FieldLimit = FieldLimit {
    field: "user name",
    api_field: "name",
    min_chars: 1,
    max_chars: 100,
    charset: Charset::UserName,
    manifest_key: Some("users[].name"),
};

/// Group names: 1–100 of `[A-Za-z0-9._-]` (PERMISSIONS.md §6).
pub const GROUP_NAME: FieldLimit = FieldLimit {
    field: "group name",
    api_field: "name",
    min_chars: 1,
    max_chars: 100,
    charset: Charset::GroupName,
    manifest_key: Some("groups[].name"),
};

/// Descriptions of users and groups: 0–400 characters (API.md §3).
pub const DESCRIPTION: FieldLimit = FieldLimit {
    field: "description",
    api_field: "description",
    min_chars: 0,
    max_chars: 400,
    charset: Charset::Any,
    manifest_key: Some("description"),
};

/// Email: `local@domain`, at most 254 characters (see the module header for the number).
pub const EMAIL: FieldLimit = FieldLimit {
    field: "email",
    api_field: "email",
    min_chars: 3,
    max_chars: 254,
    charset: Charset::Email,
    manifest_key: Some("users[].email"),
};

/// A freeform tag key, or a defined tag's namespace or key: 1–100 characters.
pub const TAG_KEY: FieldLimit = FieldLimit {
    field: "tag key",
    api_field: "freeformTags",
    min_chars: 1,
    max_chars: 100,
    charset: Charset::Any,
    manifest_key: None,
};

/// A tag value: 0–256 characters.
pub const TAG_VALUE: FieldLimit = FieldLimit {
    field: "tag value",
    api_field: "freeformTags",
    min_chars: 0,
    max_chars: 256,
    charset: Charset::Any,
    manifest_key: None,
};

/// Every limit, in the order a test enumerates them.
pub const ALL: &[FieldLimit] = &[
    USER_NAME,
    GROUP_NAME,
    DESCRIPTION,
    EMAIL,
    TAG_KEY,
    TAG_VALUE,
];

impl FieldLimit {
    /// Whether `value` is within the limit.
    #[must_use]
    pub fn accepts(&self, value: &str) -> bool {
        self.problem(value).is_none()
    }

    /// Why `value` is outside the limit, or `None` when it is within. The reason never
    /// contains any part of `value`.
    #[must_use]
    pub fn problem(&self, value: &str) -> Option<String> {
        let n = value.chars().count();
        if n < self.min_chars || n > self.max_chars {
            return Some(if self.min_chars == 0 {
                format!(
                    "{} is {n} characters long; OCI allows at most {}",
                    self.field, self.max_chars
                )
            } else {
                format!(
                    "{} is {n} characters long; OCI allows {} to {}",
                    self.field, self.min_chars, self.max_chars
                )
            });
        }
        let ok = match self.charset {
            Charset::Any => true,
            Charset::UserName => value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._+@".contains(&b)),
            Charset::GroupName => value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)),
            Charset::Email => email_shape_ok(value),
        };
        (!ok).then(|| format!("{} {}", self.field, self.allowed()))
    }

    /// What the field may hold, for hints (`must be …`).
    #[must_use]
    pub fn allowed(&self) -> String {
        let (lo, hi) = (self.min_chars, self.max_chars);
        match self.charset {
            Charset::Any => format!("must be {lo} to {hi} characters"),
            Charset::UserName => format!(
                "must be {lo} to {hi} ASCII letters, digits and the characters - . _ + @ (no spaces)"
            ),
            Charset::GroupName => format!(
                "must be {lo} to {hi} ASCII letters, digits and the characters - . _ (no spaces)"
            ),
            Charset::Email => format!(
                "must be one address like alice@example.com (one `@`, no spaces, at most {hi} characters)"
            ),
        }
    }
}

fn email_shape_ok(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_accepts_its_bounds_and_refuses_one_past() {
        for limit in ALL {
            let fill = |n: usize| -> String {
                match limit.charset {
                    Charset::Email => format!("{}@example.com", "a".repeat(n - 12)),
                    _ => "a".repeat(n),
                }
            };
            assert!(limit.accepts(&fill(limit.max_chars)), "{}", limit.field);
            let over = fill(limit.max_chars + 1);
            let why = limit.problem(&over).unwrap();
            assert!(why.contains(&limit.max_chars.to_string()), "{why}");
            assert!(!why.contains(&over), "echoes the value: {why}");
            if limit.min_chars > 0 && limit.charset != Charset::Email {
                assert!(limit.accepts(&fill(limit.min_chars)));
                assert!(!limit.accepts(&fill(limit.min_chars - 1)));
            }
        }
    }

    #[test]
    fn characters_and_email_shape() {
        assert!(USER_NAME.accepts("a.b-c_d+e@f"));
        assert!(!USER_NAME.accepts("a b"));
        assert!(!USER_NAME.accepts("é"));
        assert!(GROUP_NAME.accepts("Ops.team_1-x"));
        assert!(!GROUP_NAME.accepts("ops+x"));
        assert!(!GROUP_NAME.accepts("ops@x"));
        assert!(EMAIL.accepts("alice@example.com"));
        for bad in ["bob", "@x", "a@", "a@b@c", "a b@c", "a@b\n", "a@b\tc"] {
            assert!(!EMAIL.accepts(bad), "{bad:?}");
            assert!(!EMAIL.problem(bad).unwrap().contains(bad));
        }
        assert!(DESCRIPTION.accepts(""));
        assert!(
            DESCRIPTION.accepts(&"é".repeat(400)),
            "characters, not bytes"
        );
    }

    #[test]
    fn ociams_own_tags_fit_the_tag_limits() {
        for key in [crate::model::OWNERSHIP_TAG, crate::model::RESET_TAG] {
            assert!(TAG_KEY.accepts(key));
        }
        assert!(TAG_VALUE.accepts(&u32::MAX.to_string()));
        assert!(TAG_VALUE.accepts("true"));
    }
}
