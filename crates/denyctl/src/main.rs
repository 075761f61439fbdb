//! denyctl: the binary. Thin: parse flags, dispatch to a verb, map errors to exit codes.

// `println!`/`eprintln!` for every module of the binary (textual scope shadows std's): std's
// versions panic when the stream is closed (`denyctl … | head`, a closed `2>&1` pipe); these never do.
macro_rules! println {
    () => { $crate::output::print_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::print_line(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    () => { $crate::output::eprint_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::eprint_line(format_args!($($arg)*)) };
}

mod cli;
mod cmd;
mod error;
mod input;
mod output;
mod render;
mod state;

use clap::Parser;

// Reading scenarios and policies makes many small strings and lists; mimalloc hands them out and
// takes them back in a fraction of the system allocator's time (`simulate --batch`:
// docs/performance.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = cli::Cli::parse();
    if !(cli.global.timeout > 0.0 && cli.global.timeout <= 86_400.0) {
        eprintln!("denyctl: --timeout {}: give the most seconds one AWS call may take, retries included (more than 0, at most 86400; default 60)", cli.global.timeout);
        std::process::exit(error::exit::INPUT);
    }
    let result = match &cli.command {
        cli::Command::Simulate(a) => cmd::simulate::run(a, &cli.global),
        cli::Command::Explain(a) => cmd::explain::run(a, &cli.global),
        cli::Command::Completion(a) => cmd::completion::completion(a),
        cli::Command::Man => cmd::completion::man(),
        cli::Command::Whoami => cmd::whoami::run(&cli.global),
        cli::Command::Collect(a) => cmd::collect::run(a, &cli.global),
        cli::Command::Diagnose(a) => cmd::diagnose::run(a, &cli.global),
        cli::Command::Fix(a) => cmd::fix::run(a, &cli.global),
        cli::Command::Demo(a) => cmd::demo::run(a, &cli.global),
        cli::Command::Apply(a) => cmd::apply::run(a, &cli.global),
        cli::Command::Rollback(a) => cmd::rollback::run(a, &cli.global),
        cli::Command::Replay(a) => cmd::replay::run(a, &cli.global),
        cli::Command::Plugin(cli::PluginCommand::List) => cmd::plugin::list(&cli.global),
        cli::Command::Mcp(a) => cmd::mcp::run(a, &cli.global),
        cli::Command::Triage(a) => cmd::triage::run(a, &cli.global),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("denyctl: {e}");
            e.code()
        }
    };
    std::process::exit(code);
}
