//! The `ociam` binary: hands the arguments to [`ociam::cli::run`] and returns its exit code.
//! Nothing else belongs here.

fn main() -> std::process::ExitCode {
    ociam::cli::run(std::env::args_os())
}
