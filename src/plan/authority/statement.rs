//! Policy statements, parsed once: `Allow <subject> to <verb> <resource-type> in <location>
//! [where <conditions>]` (or a permission list `{USER_INSPECT, USER_APIKEY_ADD}` in place of
//! verb and resource type), and the conditions of PERMISSIONS.md §4 with their three-valued
//! evaluation (a variable ociam cannot evaluate is `Unknown`, which never grants).
//!
//! Pure: text in, data out. What a statement means for a request is decided in [`super`].

use super::permission::{Permission, Permissions, Resource, Verb, verb_grants};
use crate::model::{GroupName, Ocid};

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `Allow …`.
    Allow,
    /// `Deny …` (deny policies): blocks what it names, whatever else allows it.
    Deny,
}

/// Who a statement is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `any-user` or `any-group`: every user.
    Everyone,
    /// `group A, B`, `group id ocid1…`.
    Groups(Vec<GroupRef>),
    /// Dynamic groups, services, other identity domains' groups: never a user ociam acts as.
    Nobody,
}

/// A group named in a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRef {
    /// By name.
    Name(GroupName),
    /// By OCID.
    Id(Ocid),
}

/// A variable of a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    /// `target.group.name`.
    TargetGroupName,
    /// `target.group.id`.
    TargetGroupId,
    /// `target.user.id`.
    TargetUserId,
    /// `request.principal.id`.
    PrincipalId,
    /// `request.permission`.
    Permission,
    /// Anything else (tags, time windows, `request.region`, …): ociam cannot evaluate it.
    Unknown(String),
}

impl Var {
    fn parse(word: &str) -> Self {
        match word.to_ascii_lowercase().as_str() {
            "target.group.name" => Self::TargetGroupName,
            "target.group.id" => Self::TargetGroupId,
            "target.user.id" => Self::TargetUserId,
            "request.principal.id" => Self::PrincipalId,
            "request.permission" => Self::Permission,
            _ => Self::Unknown(word.to_owned()),
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `'text'`, compared without regard to case.
    Text(String),
    /// `/hr*/`, `/*hr/`, `/*hr*/`: starts with, ends with, contains (any case).
    Pattern {
        /// The fixed text.
        text: String,
        /// A `*` before it.
        any_before: bool,
        /// A `*` after it.
        any_after: bool,
    },
    /// Another variable (`request.principal.id = target.user.id`).
    Var(Var),
}

/// A `where` clause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `var = value` or `var != value`.
    Compare {
        /// The variable.
        var: Var,
        /// `!=`.
        negated: bool,
        /// The value.
        value: Value,
    },
    /// `any {…}`.
    Any(Vec<Condition>),
    /// `all {…}`.
    All(Vec<Condition>),
}

/// A parsed policy statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The policy it belongs to.
    pub policy: String,
    /// The statement as written.
    pub text: String,
    /// Allow or deny.
    pub effect: Effect,
    /// Who.
    pub subject: Subject,
    /// The IAM permissions it names (empty for other services' resource types).
    pub permissions: Permissions,
    /// `in tenancy` (only such statements reach users and groups).
    pub in_tenancy: bool,
    /// The `where` clause.
    pub condition: Option<Condition>,
}

/// What a statement text turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An Allow or Deny statement.
    Statement(Statement),
    /// A valid statement that never grants IAM permissions (`Define`, `Endorse`, `Admit`).
    Other,
    /// Not a statement ociam understands; it grants nothing.
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Pattern(String),
    Comma,
    Open,
    Close,
    Eq,
    Ne,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                out.push(Token::Comma);
            }
            '{' => {
                chars.next();
                out.push(Token::Open);
            }
            '}' => {
                chars.next();
                out.push(Token::Close);
            }
            '=' => {
                chars.next();
                out.push(Token::Eq);
            }
            '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err("`!` must be followed by `=`".to_owned());
                }
                out.push(Token::Ne);
            }
            '\'' | '"' => {
                let quoted = quoted_text(&mut chars)?;
                // `'Default'/'admins'`: an identity domain and a group name.
                if chars.peek() == Some(&'/') {
                    chars.next();
                    let name = match chars.peek() {
                        Some('\'' | '"') => quoted_text(&mut chars)?,
                        _ => bare(&mut chars),
                    };
                    out.push(Token::Word(format!("{quoted}/{name}")));
                } else {
                    out.push(Token::Quoted(quoted));
                }
            }
            '/' => {
                chars.next();
                let mut pattern = String::new();
                loop {
                    match chars.next() {
                        Some('/') => break,
                        Some(c) => pattern.push(c),
                        None => return Err("a pattern `/…/` is not closed".to_owned()),
                    }
                }
                out.push(Token::Pattern(pattern));
            }
            _ => out.push(Token::Word(bare(&mut chars))),
        }
    }
    Ok(out)
}

fn quoted_text(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let Some(quote) = chars.next() else {
        return Err("a quoted value is empty".to_owned());
    };
    let mut text = String::new();
    loop {
        match chars.next() {
            Some(c) if c == quote => return Ok(text),
            Some(c) => text.push(c),
            None => return Err(format!("a value opened with {quote} is not closed")),
        }
    }
}

fn bare(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut word = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || matches!(c, ',' | '{' | '}' | '=' | '!' | '\'' | '"') {
            break;
        }
        word.push(c);
        chars.next();
    }
    word
}

struct Cursor {
    tokens: Vec<Token>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect_word(&mut self, word: &str) -> Result<(), String> {
        if self.peek_word(word) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{word}` {}", self.found()))
        }
    }

    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            Some(Token::Quoted(q)) => Ok(q),
            _ => {
                self.at = self.at.saturating_sub(1);
                Err(format!("expected {what} {}", self.found()))
            }
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "at the end of the statement".to_owned(),
            Some(Token::Word(w) | Token::Quoted(w)) => format!("before `{w}`"),
            Some(Token::Pattern(p)) => format!("before `/{p}/`"),
            Some(Token::Comma) => "before `,`".to_owned(),
            Some(Token::Open) => "before `{`".to_owned(),
            Some(Token::Close) => "before `}`".to_owned(),
            Some(Token::Eq) => "before `=`".to_owned(),
            Some(Token::Ne) => "before `!=`".to_owned(),
        }
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }
}

/// Parses one statement of policy `policy`.
#[must_use]
pub fn parse(policy: &str, text: &str) -> Parsed {
    match parse_inner(policy, text) {
        Ok(parsed) => parsed,
        Err(why) => Parsed::Invalid(why),
    }
}

fn parse_inner(policy: &str, text: &str) -> Result<Parsed, String> {
    let mut c = Cursor {
        tokens: tokenize(text)?,
        at: 0,
    };
    let effect = match c.next() {
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("allow") => Effect::Allow,
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("deny") => Effect::Deny,
        Some(Token::Word(w))
            if ["define", "endorse", "admit"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k)) =>
        {
            return Ok(Parsed::Other);
        }
        _ => return Err("a statement starts with `Allow`".to_owned()),
    };
    let subject = subject(&mut c)?;
    c.expect_word("to")?;
    let permissions = if c.eat(&Token::Open) {
        permission_list(&mut c)?
    } else {
        let verb = c.word("a verb (inspect, read, use or manage)")?;
        let verb = Verb::parse(&verb)
            .ok_or_else(|| format!("`{verb}` is not a verb (inspect, read, use or manage)"))?;
        let resource = c.word("a resource type")?;
        verb_grants(verb, Resource::parse(&resource))
    };
    c.expect_word("in")?;
    let in_tenancy = if c.peek_word("tenancy") {
        c.at += 1;
        true
    } else {
        c.expect_word("compartment")?;
        if c.peek_word("id") {
            c.at += 1;
        }
        c.word("a compartment")?;
        false
    };
    let condition = if c.peek_word("where") {
        c.at += 1;
        Some(condition(&mut c)?)
    } else {
        None
    };
    if c.peek().is_some() {
        return Err(format!("unexpected text {}", c.found()));
    }
    Ok(Parsed::Statement(Statement {
        policy: policy.to_owned(),
        text: text.split_whitespace().collect::<Vec<_>>().join(" "),
        effect,
        subject,
        permissions,
        in_tenancy,
        condition,
    }))
}

fn subject(c: &mut Cursor) -> Result<Subject, String> {
    if c.peek_word("any-user") || c.peek_word("any-group") {
        c.at += 1;
        return Ok(Subject::Everyone);
    }
    let mut groups = Vec::new();
    let mut nobody = false;
    loop {
        let kind = c.word("a subject (group NAME, group id OCID, any-user)")?;
        match kind.to_ascii_lowercase().as_str() {
            "group" => {}
            "dynamic-group" | "service" | "resource" => {
                nobody = true;
                // `dynamic-group [id] X`, `service X`: skip the name.
                if c.peek_word("id") {
                    c.at += 1;
                }
                c.word("a name")?;
                if !c.eat(&Token::Comma) {
                    break;
                }
                continue;
            }
            // `group A, B`: a name after a comma without repeating `group`.
            _ if !groups.is_empty() => {
                c.at -= 1;
            }
            other => {
                return Err(format!(
                    "`{other}` is not a subject (group NAME, group id OCID, any-user)"
                ));
            }
        }
        if c.peek_word("id") {
            c.at += 1;
            groups.push(GroupRef::Id(Ocid::new(c.word("a group OCID")?)));
        } else {
            let name = c.word("a group name")?;
            match name.split_once('/') {
                // Another identity domain's group: not one the classic API reaches.
                Some((domain, _)) if !domain.eq_ignore_ascii_case("Default") => nobody = true,
                Some((_, name)) => groups.push(GroupRef::Name(GroupName::new(name))),
                None => groups.push(GroupRef::Name(GroupName::new(name))),
            }
        }
        if !c.eat(&Token::Comma) {
            break;
        }
        // `group id A, id B`.
        if c.peek_word("id") {
            c.at += 1;
            groups.push(GroupRef::Id(Ocid::new(c.word("a group OCID")?)));
            if !c.eat(&Token::Comma) {
                break;
            }
        }
    }
    Ok(if groups.is_empty() && nobody {
        Subject::Nobody
    } else {
        Subject::Groups(groups)
    })
}

fn permission_list(c: &mut Cursor) -> Result<Permissions, String> {
    let mut perms = Permissions::NONE;
    loop {
        let name = c.word("a permission name")?;
        // Other services' permissions are valid and grant nothing in IAM.
        if let Some(p) = Permission::parse(&name) {
            perms = perms.with(p);
        } else if ["USER_", "GROUP_", "POLICY_", "TENANCY_"]
            .iter()
            .any(|prefix| name.to_ascii_uppercase().starts_with(prefix))
        {
            return Err(format!("`{name}` is not an IAM permission"));
        }
        if c.eat(&Token::Close) {
            return Ok(perms);
        }
        if !c.eat(&Token::Comma) {
            return Err(format!("expected `,` or `}}` {}", c.found()));
        }
    }
}

fn condition(c: &mut Cursor) -> Result<Condition, String> {
    if c.peek_word("any") || c.peek_word("all") {
        let any = c.peek_word("any");
        c.at += 1;
        if !c.eat(&Token::Open) {
            return Err(format!("expected `{{` {}", c.found()));
        }
        let mut list = vec![condition(c)?];
        while c.eat(&Token::Comma) {
            list.push(condition(c)?);
        }
        if !c.eat(&Token::Close) {
            return Err(format!("expected `}}` {}", c.found()));
        }
        return Ok(if any {
            Condition::Any(list)
        } else {
            Condition::All(list)
        });
    }
    let var = Var::parse(&c.word("a condition variable")?);
    let negated = match c.next() {
        Some(Token::Eq) => false,
        Some(Token::Ne) => true,
        _ => {
            c.at -= 1;
            return Err(format!("expected `=` or `!=` {}", c.found()));
        }
    };
    let value = match c.next() {
        Some(Token::Quoted(text)) => Value::Text(text),
        Some(Token::Pattern(p)) => Value::Pattern {
            any_before: p.starts_with('*'),
            any_after: p.ends_with('*') && p.len() > 1,
            text: p.trim_matches('*').to_owned(),
        },
        Some(Token::Word(w)) if w.contains('.') => Value::Var(Var::parse(&w)),
        // Unquoted values are not OCI syntax for strings; refuse rather than guess.
        _ => {
            c.at -= 1;
            return Err(format!("expected a quoted value {}", c.found()));
        }
    };
    Ok(Condition::Compare {
        var,
        negated,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Statement {
        match parse("p", text) {
            Parsed::Statement(s) => s,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_verbs_lists_subjects_and_locations() {
        let s = ok("Allow group Helpdesk to use users in tenancy");
        assert_eq!(s.effect, Effect::Allow);
        assert_eq!(
            s.subject,
            Subject::Groups(vec![GroupRef::Name("Helpdesk".into())])
        );
        assert!(s.permissions.contains(Permission::UserUpdate));
        assert!(s.in_tenancy);
        assert!(s.condition.is_none());

        let s = ok(
            "allow group A, B, group id ocid1.group.oc1..x to {USER_INSPECT, USER_APIKEY_ADD, BUCKET_READ} in TENANCY",
        );
        assert_eq!(
            s.subject,
            Subject::Groups(vec![
                GroupRef::Name("A".into()),
                GroupRef::Name("B".into()),
                GroupRef::Id(Ocid::new("ocid1.group.oc1..x"))
            ])
        );
        assert_eq!(
            s.permissions,
            Permissions::of(&[Permission::UserInspect, Permission::UserApikeyAdd])
        );

        let s = ok(
            "Allow group id ocid1.group.oc1..a, id ocid1.group.oc1..b to manage groups in compartment id ocid1.compartment.oc1..c",
        );
        assert!(!s.in_tenancy);
        assert_eq!(
            s.subject,
            Subject::Groups(vec![
                GroupRef::Id(Ocid::new("ocid1.group.oc1..a")),
                GroupRef::Id(Ocid::new("ocid1.group.oc1..b"))
            ])
        );

        assert_eq!(
            ok("Allow group 'Default'/'Ops' to manage users in tenancy").subject,
            Subject::Groups(vec![GroupRef::Name("Ops".into())])
        );
        assert_eq!(
            ok("Allow group 'Partners'/'Ops' to manage users in tenancy").subject,
            Subject::Nobody
        );
        assert_eq!(
            ok("Allow dynamic-group fn to manage users in tenancy").subject,
            Subject::Nobody
        );
        assert_eq!(
            ok("Allow any-user to inspect users in tenancy").subject,
            Subject::Everyone
        );
        assert_eq!(
            ok("Allow group ops to manage buckets in compartment prod").permissions,
            Permissions::NONE
        );
        assert_eq!(
            ok("Deny group ops to manage users in tenancy").effect,
            Effect::Deny
        );
        assert_eq!(
            parse("p", "Define tenancy Acme as ocid1.tenancy.oc1..a"),
            Parsed::Other
        );
    }

    #[test]
    fn parses_conditions() {
        let s =
            ok("Allow group H to use users in tenancy where target.group.name != 'Administrators'");
        assert_eq!(
            s.condition,
            Some(Condition::Compare {
                var: Var::TargetGroupName,
                negated: true,
                value: Value::Text("Administrators".into())
            })
        );
        let s = ok(
            "Allow any-user to {USER_APIKEY_ADD} in tenancy where request.principal.id = target.user.id",
        );
        assert_eq!(
            s.condition,
            Some(Condition::Compare {
                var: Var::PrincipalId,
                negated: false,
                value: Value::Var(Var::TargetUserId)
            })
        );
        let s = ok(
            "Allow group G to manage groups in tenancy where any {target.group.name = /A-Users-*/, all {request.permission != 'GROUP_DELETE', target.group.id='ocid1.group.oc1..x'}}",
        );
        let Some(Condition::Any(list)) = s.condition else {
            panic!()
        };
        assert_eq!(
            list[0],
            Condition::Compare {
                var: Var::TargetGroupName,
                negated: false,
                value: Value::Pattern {
                    text: "A-Users-".into(),
                    any_before: false,
                    any_after: true
                }
            }
        );
        assert!(matches!(&list[1], Condition::All(inner) if inner.len() == 2));
        let s = ok(
            "Allow group G to use users in tenancy where request.utc-timestamp.hour-of-day = '9'",
        );
        assert!(matches!(
            s.condition,
            Some(Condition::Compare {
                var: Var::Unknown(_),
                ..
            })
        ));
    }

    #[test]
    fn malformed_statements_are_invalid_not_guessed() {
        for text in [
            "",
            "Permit group ops to manage users in tenancy",
            "Allow grop ops to manage users in tenancy",
            "Allow group ops manage users in tenancy",
            "Allow group ops to administer users in tenancy",
            "Allow group ops to manage users",
            "Allow group ops to manage users in tenancy where",
            "Allow group ops to manage users in tenancy where target.group.name = Administrators",
            "Allow group ops to manage users in tenancy where target.group.name = 'x",
            "Allow group ops to {USER_INSPECT, USER_APIKEY_ADDD} in tenancy",
            "Allow group ops to manage users in tenancy extra words",
            "Allow group ops to manage users in tenancy where any {target.group.name = 'a'",
        ] {
            assert!(
                matches!(parse("p", text), Parsed::Invalid(_)),
                "{text}: {:?}",
                parse("p", text)
            );
        }
    }
}
