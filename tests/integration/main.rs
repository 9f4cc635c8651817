//! The one integration test binary: the CLI end to end (exit codes, messages), plan cases
//! from fixture directories, every example, and the generated schemas.

mod cli;
mod examples;
mod plan_cases;
mod schema;
mod util;
