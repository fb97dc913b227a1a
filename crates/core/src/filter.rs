//! The list filter grammar: `field eq "value"`, joined by `and` (seed 004:
//! `filter=team_id eq "…"`). Each endpoint names the fields it accepts.

use crate::error::ValidationError;

/// One `field eq "value"` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub value: String,
}

/// Parses a filter, accepting only `allowed` fields, each at most once.
pub fn parse(input: &str, allowed: &[&str]) -> Result<Vec<Condition>, ValidationError> {
    let err = |m: String| ValidationError::new("filter", m);
    let mut rest = input.trim();
    let mut out: Vec<Condition> = Vec::new();
    if rest.is_empty() {
        return Ok(out);
    }
    loop {
        let field_end = rest
            .find(|c: char| c.is_whitespace())
            .ok_or_else(|| err(format!("expected `field eq \"value\"` at {rest:?}")))?;
        let field = &rest[..field_end];
        if !allowed.contains(&field) {
            return Err(err(format!(
                "cannot filter on {field:?}; filterable fields: {}",
                allowed.join(", ")
            )));
        }
        rest = rest[field_end..].trim_start();
        let op_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        let op = &rest[..op_end];
        if !op.eq_ignore_ascii_case("eq") {
            return Err(err(format!("unsupported operator {op:?}; use eq")));
        }
        rest = rest[op_end..].trim_start();
        let quoted = rest
            .strip_prefix('"')
            .ok_or_else(|| err(format!("the value for {field} must be in double quotes")))?;
        let close = quoted
            .find('"')
            .ok_or_else(|| err(format!("the value for {field} has no closing quote")))?;
        let value = &quoted[..close];
        if out.iter().any(|c| c.field == field) {
            return Err(err(format!("{field} appears more than once")));
        }
        out.push(Condition {
            field: field.to_string(),
            value: value.to_string(),
        });
        rest = quoted[close + 1..].trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let and_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        if !rest[..and_end].eq_ignore_ascii_case("and") {
            return Err(err(format!(
                "expected `and` between conditions, found {:?}",
                &rest[..and_end]
            )));
        }
        rest = rest[and_end..].trim_start();
        if rest.is_empty() {
            return Err(err("a condition must follow `and`".into()));
        }
    }
}

/// The value of `field` in a parsed filter.
pub fn value_of<'a>(conditions: &'a [Condition], field: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| c.field == field)
        .map(|c| c.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_form_and_conjunctions() {
        let c = parse(
            r#"team_id eq "60437fa0-15ab-4c1f-a211-010543ac8a89""#,
            &["team_id"],
        )
        .unwrap();
        assert_eq!(
            value_of(&c, "team_id"),
            Some("60437fa0-15ab-4c1f-a211-010543ac8a89")
        );
        let c = parse(
            r#"team_id eq "t" AND status eq "ACTIVE""#,
            &["team_id", "status"],
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(value_of(&c, "status"), Some("ACTIVE"));
        assert!(parse("  ", &["team_id"]).unwrap().is_empty());
    }

    #[test]
    fn errors_say_what_to_fix() {
        let cases = [
            (r#"name eq "x""#, "filterable fields"),
            (r#"team_id ne "x""#, "unsupported operator"),
            ("team_id eq x", "double quotes"),
            (r#"team_id eq "x"#, "closing quote"),
            (r#"team_id eq "x" or status eq "y""#, "expected `and`"),
            (r#"team_id eq "x" and"#, "must follow"),
            (r#"team_id eq "x" and team_id eq "y""#, "more than once"),
            ("team_id", "expected"),
        ];
        for (input, want) in cases {
            let e = parse(input, &["team_id", "status"]).unwrap_err();
            assert_eq!(e.field, "filter");
            assert!(e.message.contains(want), "{input}: {}", e.message);
        }
    }
}
