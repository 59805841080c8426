//! The `tfkd` command: a thin layer of argument parsing over the library crates.

mod data;
mod doctor;
mod libtorch;
mod models;
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
    /// List the model zoo with parameter counts and forward FLOPs at 32×32.
    Models {
        /// Number of classes K.
        #[arg(long, default_value_t = 100)]
        classes: i64,
        /// Channel width multiplier (1 = the paper's models).
        #[arg(long, default_value_t = 1.0)]
        width: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or download datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Run a paper target (table1…table6) end to end.
    Reproduce {
        /// The target, e.g. `table3`.
        target: String,
    },
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Counts per split and class, and per-channel mean/std of the decoded images.
    Inspect {
        /// cifar10, cifar100, cifar10-jpeg, tiny-imagenet, imagefolder, fashion-mnist or mnist.
        source: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Download an official archive, verify its published checksum and unpack it into the data folder.
    Fetch {
        /// cifar10, cifar100, tiny-imagenet or fashion-mnist.
        name: String,
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
        Command::Models { classes, width, json } => {
            let rows = models::list(classes, width)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", models::render(&rows, classes, width));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Data { command: DataCommand::Inspect { source, json } } => {
            let report = data::inspect(&source)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Data { command: DataCommand::Fetch { name } } => {
            let dest = data::fetch(&name)?;
            println!("{name} is in {}", dest.display());
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
