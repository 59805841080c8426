//! The `tfkd` command: a thin layer of argument parsing over the library crates.

mod doctor;
mod libtorch;
mod paths;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Reproduce, check and extend "Revisiting Knowledge Distillation via Label Smoothing Regularization".
#[derive(Debug, Parser)]
#[command(name = "tfkd", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the libtorch version, CUDA/cuDNN availability, thread count and folders in use.
    #[command(alias = "info")]
    Doctor {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a paper target (table1…table6) end to end.
    Reproduce {
        /// The target, e.g. `table3`.
        target: String,
    },
}

fn main() -> ExitCode {
    let cuda = libtorch::enable_cuda();
    match run(Cli::parse(), &cuda) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, cuda: &libtorch::CudaLoad) -> Result<ExitCode> {
    match cli.command {
        Command::Doctor { json } => {
            let report = doctor::report(cuda);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reproduce { target } => anyhow::bail!(
            "cannot reproduce '{target}' yet: the experiment engine and the paper targets are not built \
             (issues #5 and #6). Nothing was run and no numbers were produced."
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
