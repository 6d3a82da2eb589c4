//! `lookout-server`: parse the command line, set up logging, run the agent,
//! turn failures into an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use lookout_protocol::Fingerprint;
use lookout_server::cli::{Args, Command, ServiceAction};
use lookout_server::control;
use lookout_server::settings::{self, Flags};
use lookout_server::{Access, Agent, Config, Stopped, Transport, capture, desktop_input, secret};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(err) => err.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let outcome = match args.command {
        Some(Command::Service { action }) => service(action).map(|()| Stopped::Shutdown),
        Some(command) => control(command).map(|()| Stopped::Shutdown),
        None => configure(args, &matches).and_then(|config| match config {
            Some((config, socket)) => run(config, socket),
            None => Ok(Stopped::Shutdown),
        }),
    };
    match outcome {
        Ok(Stopped::Shutdown) => ExitCode::SUCCESS,
        Ok(Stopped::DisplayLost(_)) => ExitCode::from(Stopped::DISPLAY_LOST_STATUS),
        Err(err) => {
            eprintln!("lookout-server: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Merges the config files and the flags into the agent's configuration
/// and its control socket's path; `None` when `--print-config` printed it
/// instead.
fn configure(
    args: Args,
    matches: &clap::ArgMatches,
) -> anyhow::Result<Option<(Config, std::path::PathBuf)>> {
    let locations = args.locations();
    let flags = Flags::from_matches(args.options, matches);
    let resolved = settings::load(&locations, &flags)?;
    if args.print_config {
        print!("{}", settings::render(&resolved));
        return Ok(None);
    }
    let socket = control::socket_path(resolved.options.control_socket.as_deref())?;
    Ok(Some((resolved.options.into_config()?, socket)))
}

/// `lookout-server status|kick|pause|resume`: one request to the running
/// agent's control socket.
fn control(command: Command) -> anyhow::Result<()> {
    use control::request::Request;
    let (request, socket, json) = match command {
        Command::Status { socket, json } => (Request::Status, socket, json),
        Command::Kick {
            id,
            message,
            socket,
        } => (Request::Kick { id, message }, socket, false),
        Command::Pause { socket } => (Request::Pause, socket, false),
        Command::Resume { socket } => (Request::Resume, socket, false),
        Command::Service { .. } => unreachable!("handled by main"),
    };
    let path = control::socket_path(socket.control_socket.as_deref())?;
    let reply = control::client::ask(&path, &request)?;
    if json {
        print!("{}", reply.to_line());
    }
    if let Some(error) = reply.error.filter(|_| !reply.ok) {
        anyhow::bail!("the agent refused: {error}");
    }
    match (&request, reply.status, reply.changed) {
        (_, Some(status), _) if !json => print!("{}", control::status::render(&status)),
        (Request::Pause, _, Some(false)) => println!("streaming was already paused"),
        (Request::Pause, _, _) => println!("streaming paused"),
        (Request::Resume, _, Some(false)) => println!("streaming was not paused"),
        (Request::Resume, _, _) => println!("streaming resumed"),
        (Request::Kick { id, .. }, _, _) => println!("session {id} ended"),
        _ => {}
    }
    Ok(())
}

/// `lookout-server service ACTION`.
fn service(action: ServiceAction) -> anyhow::Result<()> {
    let env = lookout_server::service::ServiceEnv::standard()?;
    let report = match action {
        ServiceAction::Install { config } => {
            let exe = std::env::current_exe().context("cannot find this program's path")?;
            let config = config
                .map(std::path::absolute)
                .transpose()
                .context("cannot make the --config path absolute")?;
            lookout_server::service::install(&env, &exe, config.as_deref())?
        }
        ServiceAction::Uninstall => lookout_server::service::uninstall(&env)?,
        ServiceAction::Status => lookout_server::service::status(&env),
    };
    print!("{report}");
    Ok(())
}

#[tokio::main]
async fn run(config: Config, socket: std::path::PathBuf) -> anyhow::Result<Stopped> {
    // Before the agent binds anything: a second agent of this user stops
    // here, with the socket's reason.
    let socket = control::ControlSocket::bind(&socket)?;
    let backend = match config.source {
        capture::Source::Screen(backend) => backend,
        capture::Source::TestPattern { .. } => capture::CaptureBackend::Auto,
    };
    // Input follows the backend the capturer settles on.
    let chosen = capture::ChosenBackend::default();
    let agent = Agent::start(
        &config,
        capture::open(config.source, chosen.clone()),
        Some(desktop_input(backend, chosen)),
    )
    .await
    .context("cannot start the agent")?;
    tracing::info!(path = %socket.path().display(), "control socket (lookout-server status)");
    let addr = agent.local_addr()?;
    for m in agent.monitors().iter() {
        tracing::info!(
            id = m.id,
            name = %m.name,
            "monitor {}x{} at ({}, {}){}",
            m.width,
            m.height,
            m.x,
            m.y,
            if m.primary { ", primary" } else { "" }
        );
    }
    tracing::info!(
        %addr,
        control = agent.control(),
        fps = config.capture.fps,
        discovery = agent.discovery_addr().is_some(),
        "listening"
    );
    announce_identity(&config, &agent);
    announce_web(&agent, addr);
    announce_access(&config, addr, agent.fingerprint())?;

    let shutdown = CancellationToken::new();
    tokio::spawn(signal_shutdown(shutdown.clone()));
    let control_stop = CancellationToken::new();
    let control = tokio::spawn(control::serve(
        socket,
        agent.control_handle(),
        control_stop.clone(),
    ));
    let stopped = agent.run(shutdown).await;
    // The socket file goes with the task.
    control_stop.cancel();
    let _ = control.await;
    Ok(stopped)
}

/// Prints the fingerprint line (every start), or warns that there is no TLS.
fn announce_identity(config: &Config, agent: &Agent) {
    match (agent.fingerprint(), &config.transport) {
        (Some(fingerprint), transport) => {
            if let (true, Transport::Tls(dir)) = (agent.identity_created(), transport) {
                tracing::info!(dir = %dir.display(), "made a new TLS identity");
            }
            println!("fingerprint {fingerprint}");
        }
        (None, _) => tracing::warn!(
            "--no-tls: traffic is not encrypted and viewers cannot check who they talk to; \
             for debugging only"
        ),
    }
}

/// Prints where a browser finds the viewer (TLS and not `--no-web`): the
/// host name when the agent listens on every address.
fn announce_web(agent: &Agent, addr: std::net::SocketAddr) {
    if !agent.serves_web() {
        return;
    }
    let host = match addr.ip() {
        ip if ip.is_unspecified() => lookout_server::config::host_name(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    println!("open https://{host}:{}/ in a browser", addr.port());
}

/// Shows a generated token once: on stdout when it is a terminal, never
/// through the log. Otherwise stdout may well be a journal that others can
/// read, so the token goes to an owner-only file whose path is shown.
fn announce_access(
    config: &Config,
    addr: std::net::SocketAddr,
    fingerprint: Option<Fingerprint>,
) -> anyhow::Result<()> {
    let token = match &config.access {
        Access::Token {
            token,
            generated: true,
            ..
        } => token,
        Access::Token { .. } => return Ok(()),
        Access::Open => {
            tracing::warn!("--no-auth: any local process can watch and control this screen");
            return Ok(());
        }
    };
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let pin = match fingerprint {
        Some(fingerprint) => format!(" --fingerprint {fingerprint}"),
        None => " --no-tls".to_owned(),
    };
    if std::io::stdout().is_terminal() {
        println!("No --token given; this run's token is: {token}");
        println!("Connect a viewer with:");
        println!(
            "  lookout-viewer {host}:{} --token {token}{pin}",
            addr.port()
        );
        return Ok(());
    }
    // Beside the identity, which exists by now. Without an identity
    // directory of its own, the run keeps the token in the state directory:
    // never in the default identity directory, where a lone token file
    // would stop the first TLS start from making the identity there.
    let dir = match &config.transport {
        Transport::Tls(dir) => dir.clone(),
        Transport::TlsWith(_) | Transport::Plain => dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .context("no state directory for the generated token (is HOME set?)")?
            .join("lookout-server"),
    };
    let path = secret::save_token(&dir, token)
        .with_context(|| format!("cannot save the generated token in {}", dir.display()))?;
    tracing::info!(
        path = %path.display(),
        "no --token given: this run's token is in an owner-only file (stdout is not a terminal)"
    );
    println!(
        "No --token given; this run's token is in {}",
        path.display()
    );
    println!("Connect a viewer with:");
    println!(
        "  LOOKOUT_TOKEN=\"$(cat {})\" lookout-viewer {host}:{}{pin}",
        path.display(),
        addr.port()
    );
    Ok(())
}

async fn signal_shutdown(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}
