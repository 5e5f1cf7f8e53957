//! CQL identifiers (keyspace, table names) come from user options, so they are checked
//! before they ever reach a statement: statements cannot take them as bind values.

use super::CassandraError;

/// Cassandra's own limit for keyspace names; we apply it to tables too.
const MAX_IDENTIFIER_LEN: usize = 48;

/// Accepts lowercase `[a-z][a-z0-9_]*` up to 48 characters. Uppercase is refused rather
/// than quoted, because unquoted CQL folds case and users' cqlsh sessions would not find
/// a quoted mixed-case table.
pub fn validate_identifier(option: &str, value: &str) -> Result<(), CassandraError> {
    let mut chars = value.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_valid = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if starts_with_letter && rest_valid && value.len() <= MAX_IDENTIFIER_LEN {
        return Ok(());
    }
    Err(CassandraError::Config {
        reason: format!(
            "{option} = {value:?} is not a valid CQL identifier: use lowercase letters, digits \
             and '_', starting with a letter, at most {MAX_IDENTIFIER_LEN} characters"
        ),
    })
}

/// `keyspace.table`, both validated.
pub fn qualified_table(keyspace: &str, table: &str, table_option: &str) -> Result<String, CassandraError> {
    validate_identifier("keyspace", keyspace)?;
    validate_identifier(table_option, table)?;
    Ok(format!("{keyspace}.{table}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_lowercase_names() {
        assert!(validate_identifier("keyspace", "flowcraft").is_ok());
        assert!(validate_identifier("t", "flowcraft_contexts_2").is_ok());
    }

    #[test]
    fn refuses_injection_case_and_length() {
        for bad in ["", "1abc", "Flowcraft", "a;DROP TABLE x", "a.b", "a-b", "\"q\""] {
            let err = validate_identifier("contextTableName", bad).unwrap_err();
            assert!(err.to_string().contains("contextTableName"), "{err}");
        }
        assert!(validate_identifier("keyspace", &"a".repeat(49)).is_err());
    }
}
