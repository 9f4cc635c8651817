//! GitHub Actions workflow commands: one line per finding,
//! `::error file=F,line=L,col=C,title=RULE::message — help` (`warning`, `notice` for lower
//! levels), which a workflow step turns into annotations on the pull request's diff. Findings
//! without a location get no `file`/`line`/`col` (GitHub shows them on the run).
//!
//! Escaping follows GitHub's actions toolkit (`packages/core/src/command.ts`): in the message
//! `%`, `\r`, `\n` become `%25`, `%0D`, `%0A`; in property values `:` and `,` also become
//! `%3A`, `%2C`. So no text from the manifest or the tenancy can end the line and start a
//! command of its own.
//!
//! Pure: writes only to the given writer.

use std::io::{self, Write};

use super::{Finding, Level, neutralise};

/// Writes one workflow command per finding.
///
/// # Errors
/// Only the writer's errors.
pub fn render(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    for f in findings {
        writeln!(out, "{}", line(f))?;
    }
    Ok(())
}

/// The workflow command of one finding (no line break).
#[must_use]
pub fn line(f: &Finding) -> String {
    let command = match f.level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Note => "notice",
    };
    let mut props = Vec::new();
    if let Some(at) = &f.location {
        props.push(format!("file={}", property(&at.file)));
        props.push(format!("line={}", at.line));
        props.push(format!("col={}", at.column));
    }
    props.push(format!("title={}", property(&f.rule)));
    format!("::{command} {}::{}", props.join(","), message(&f.text()))
}

/// A message escaped for a workflow command.
#[must_use]
pub fn message(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in neutralise(s).chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// A property value escaped for a workflow command.
#[must_use]
pub fn property(s: &str) -> String {
    message(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{loc, sample};
    use super::*;

    fn rendered(findings: &[Finding]) -> String {
        let mut buf = Vec::new();
        render(findings, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn one_command_per_finding_by_level_with_file_line_and_column() {
        assert_eq!(
            rendered(&sample()),
            "::error file=iam/manifest.yaml,line=14,col=11,title=max-api-keys::user carol declares 4 API keys; OCI allows at most 3 — remove keys\n\
             ::warning file=iam/manifest.yaml,line=17,col=9,title=key-age::key 3c:1f of user carol is 91 days old (limit 90)\n\
             ::notice title=unmanaged::users: 1 live user not in the manifest is left alone: bob — list them\n"
        );
        assert_eq!(rendered(&[]), "");
    }

    #[test]
    fn messages_escape_percent_and_line_breaks_so_no_text_starts_a_command() {
        assert_eq!(
            message("100% done\r\n::error::x"),
            "100%25 done%0D%0A::error::x"
        );
        // Escaped `%` first: an existing `%0A` in the text stays literal text.
        assert_eq!(message("%0A"), "%250A");
        assert_eq!(message("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(property("C:\\a,b%\n"), "C%3A\\a%2Cb%25%0A");
        let mut f = sample().remove(0);
        f.location = Some(crate::model::Location {
            file: "iam/a,b:c.yaml".into(),
            ..loc(3, 1)
        });
        f.rule = "x,y".into();
        assert_eq!(
            line(&f),
            "::error file=iam/a%2Cb%3Ac.yaml,line=3,col=1,title=x%2Cy::user carol declares 4 API keys; OCI allows at most 3 — remove keys"
        );
    }
}
