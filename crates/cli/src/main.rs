//! `pgscram`: thin main. Parses arguments, calls the library, maps errors to an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

mod args;
mod audit;
mod bench;
mod encrypt_password;
mod logging;
mod login;
mod passwd;
mod ping;
mod proxy;
mod secret_input;
mod serve;
mod server_args;
mod sql;

/// mimalloc rather than glibc's malloc: per-thread free lists without arena locks,
/// which a multi-threaded server whose tasks move between threads otherwise contends
/// on (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("pgscram: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    match args::Command::parse(std::env::args_os().skip(1))? {
        args::Command::Help => {
            print!("{}", args::USAGE);
            Ok(ExitCode::SUCCESS)
        }
        args::Command::Version => {
            println!("pgscram {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        args::Command::EncryptPassword(options) => encrypt_password::run(&options),
        args::Command::Serve(args) => serve::run(args),
        args::Command::Proxy(args) => proxy::run(args),
        args::Command::Bench(args) => bench::run(args),
        args::Command::Ping { conninfo } => ping::run(&conninfo),
        args::Command::Audit(options) => audit::run(&options),
        args::Command::Passwd(options) => passwd::run(&options),
    }
}
