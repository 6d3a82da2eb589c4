//! `lookout-viewer`: parse the command line, set up logging, run the viewer,
//! turn the outcome into the exit status (0 ok, 1 failure, 2 token refused).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use lookout_viewer::Args;
use lookout_viewer::settings::ViewerFile;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let parsed = Args::command()
        .try_get_matches()
        .and_then(|matches| Args::from_arg_matches(&matches).map(|args| (args, matches)));
    let (mut args, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            // Help and version go to stdout with status 0. Usage errors get
            // 1, not clap's usual 2, which here means "token refused".
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if args.wall {
        return wall(&args, &matches);
    }
    let file = ViewerFile::for_args(&args).and_then(|file| file.apply(&mut args, &matches));
    if let Err(err) = file {
        eprintln!("lookout-viewer: {err}");
        return ExitCode::from(1);
    }
    match args.discovery() {
        Ok(None) => {}
        Ok(Some((options, known_hosts))) => {
            return ExitCode::from(lookout_viewer::discover::list(
                &options,
                known_hosts.as_deref(),
            ));
        }
        Err(err) => {
            eprintln!("lookout-viewer: {err}");
            return ExitCode::from(1);
        }
    }
    let config = match args.into_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("lookout-viewer: {err}");
            return ExitCode::from(1);
        }
    };
    match lookout_viewer::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lookout-viewer: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// `--wall`: every HOST's settings (and with `--discover`, every agent that
/// answers), then the wall until its window closes.
fn wall(args: &Args, matches: &clap::ArgMatches) -> ExitCode {
    let found = match args.discovery() {
        Ok(None) => Vec::new(),
        Ok(Some((options, _))) => match lookout_viewer::discover::discover(&options) {
            Ok(found) if found.is_empty() => {
                eprintln!("lookout-viewer: no agent answered the discovery probe");
                return ExitCode::from(1);
            }
            Ok(found) => found.iter().map(|f| f.target().to_string()).collect(),
            Err(err) => {
                eprintln!("lookout-viewer: {err}");
                return ExitCode::from(1);
            }
        },
        Err(err) => {
            eprintln!("lookout-viewer: {err}");
            return ExitCode::from(1);
        }
    };
    let targets = ViewerFile::for_args(args)
        .map_err(|err| err.to_string())
        .and_then(|file| {
            lookout_viewer::wall::targets_from_command_line(&file, matches, &found)
                .map_err(|err| err.to_string())
        });
    let targets = match targets {
        Ok(targets) => targets,
        Err(err) => {
            eprintln!("lookout-viewer: {err}");
            return ExitCode::from(1);
        }
    };
    let options = lookout_viewer::wall::WallOptions { fps: args.wall_fps };
    match lookout_viewer::wall::run(targets, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lookout-viewer: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
