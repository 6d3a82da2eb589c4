//! `cargo xtask dist DIR`: writes what the Debian package ships besides the
//! binaries, all generated from the code so they cannot drift from it: man
//! pages and bash, zsh and fish completions from the clap definitions, and
//! the systemd user unit for `/usr/bin/lookout-server`.
//!
//! A separate program rather than a hidden subcommand of the binaries:
//! the generators (`clap_mangen`, `clap_complete`) stay out of the shipped
//! programs, nothing needs a network or an X server, and one run covers
//! both binaries.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use clap::CommandFactory;
use clap_complete::Shell;

/// Where the package installs the agent.
const INSTALLED_AGENT: &str = "/usr/bin/lookout-server";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["dist", dir] => dist(Path::new(dir)),
        _ => bail!("usage: cargo xtask dist DIR"),
    }
}

fn dist(dir: &Path) -> anyhow::Result<()> {
    let (man, completions) = (dir.join("man"), dir.join("completions"));
    for sub in [&man, &completions] {
        fs::create_dir_all(sub).with_context(|| format!("cannot create {}", sub.display()))?;
    }
    for command in [
        lookout_server::cli::Args::command(),
        lookout_viewer::Args::command(),
    ] {
        write_man_pages(&command, &man)?;
        let name = command.get_name().to_owned();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            clap_complete::generate_to(shell, &mut command.clone(), &name, &completions)
                .with_context(|| format!("cannot write the {shell} completions of {name}"))?;
        }
    }
    let unit = dir.join(lookout_server::service::UNIT_NAME);
    fs::write(
        &unit,
        lookout_server::service::unit_text(Path::new(INSTALLED_AGENT), None),
    )
    .with_context(|| format!("cannot write {}", unit.display()))?;
    println!(
        "wrote man pages, completions and the unit to {}",
        dir.display()
    );
    Ok(())
}

/// `NAME.1`, and `NAME-SUB.1` for each subcommand, all the way down
/// (`lookout-server-service-install.1`), as the pages refer to each other.
fn write_man_pages(command: &clap::Command, dir: &Path) -> anyhow::Result<()> {
    let page = command.get_name().to_owned();
    let mut text = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut text)?;
    let path = dir.join(format!("{page}.1"));
    fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let typed = command.get_bin_name().unwrap_or(&page).to_owned();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub = sub
            .clone()
            .name(format!("{page}-{}", sub.get_name()))
            .bin_name(format!("{typed} {}", sub.get_name()));
        write_man_pages(&sub, dir)?;
    }
    Ok(())
}
