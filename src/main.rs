//! The `kestrel` command line.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use kestrel::config::Config;
use kestrel::engine::{Engine, EngineOptions};
use kestrel::pack::{PackError, RulePack, RuleTests};
use kestrel::rules;
use kestrel::scan::{self, Input, ScanOptions};
use kestrel::shutdown::{Reason, Shutdown};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `run`: stopped by SIGTERM/SIGINT with everything in flight committed)
  1  failure: the rule set has errors, a rule test failed, an input could not be read;
     for `run`: a fatal Kafka error, a broker without transactions for exactly_once,
     or posts still in flight when the shutdown bound passed
  2  the command line or the configuration is wrong";

#[derive(Parser)]
#[command(
    name = "kestrel",
    version,
    about = "Flags terrorist recruitment and financing signals in user posts",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan JSONL posts (files, or stdin when none) and print alerts as JSONL.
    #[command(after_help = EXIT_CODES)]
    Scan {
        /// JSONL files of posts; `-` or none for stdin.
        files: Vec<PathBuf>,
        /// Rule directory (default: `[rules] dir` of the configuration, else `rules`).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Configuration file: `[posts]`, `[rules]` and `[alerts]` are used.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Scan threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// No summary on stderr.
        #[arg(long, short)]
        quiet: bool,
        /// Scan even when the rules' own tests fail (they are run and
        /// reported either way; `run` never serves such a set).
        #[arg(long)]
        skip_rule_tests: bool,
        /// Seconds between progress lines on stderr (default: 1 on a
        /// terminal, where the line is rewritten in place, else 10; 0: none).
        #[arg(long, value_name = "SECONDS")]
        progress_every: Option<f64>,
    },
    /// Run the service: consume posts from Kafka, scan them, publish alerts
    /// and dead letters (see docs/operations.md).
    #[command(after_help = EXIT_CODES)]
    Run {
        /// Configuration file (TOML); without it, the defaults: a broker on
        /// 127.0.0.1:9092, topics `posts`, `alerts`, `posts.dlq`.
        #[arg(long, env = "KESTREL_CONFIG")]
        config: Option<PathBuf>,
        /// Print the effective configuration (secrets masked) and exit.
        #[arg(long)]
        print_config: bool,
        /// Log format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Check and lint rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Judge the rules on labelled posts: recall, precision and false alarms
    /// per category, rule, language and kind, every miss and false alarm
    /// explained; exit 1 when a floor fails.
    #[command(after_help = EXIT_CODES)]
    Eval {
        /// JSONL posts, each with `label` (a category or `none`) and
        /// optionally `lang` and `kind`.
        file: PathBuf,
        /// Rule directory (default: `[rules] dir` of the configuration, else `rules`).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Configuration file: `[posts]` says where the id and text are.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: EvalFormat,
        /// Only active alerts find a post or make a false alarm (shadow
        /// figures are still shown).
        #[arg(long)]
        active_only: bool,
        /// A figure the run must reach (repeatable): `recall:CATEGORY=0.85`,
        /// `recall:CATEGORY:LANG=0.85`, `precision:CATEGORY=0.9`,
        /// `false-alarm=0.05` (a maximum), `false-alarm:LANG=0.05`.
        #[arg(long = "floor", value_name = "FIGURE=VALUE")]
        floors: Vec<String>,
    },
    /// Show how a text folds, which terms match it and which rules fire.
    #[command(after_help = EXIT_CODES)]
    Explain {
        /// The post text (the first text field); `-` reads stdin.
        text: Option<String>,
        /// Rule directory (default: `[rules] dir` of the configuration, else `rules`).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Another field of the post, as NAME=TEXT (repeatable).
        #[arg(long = "field", value_name = "NAME=TEXT")]
        fields: Vec<String>,
        /// Explain this rule only (shown even when none of its terms match).
        #[arg(long, value_name = "ID")]
        rule: Option<String>,
        /// Take the post from a JSONL file (with `--line` or `--id`), read
        /// with the configured `[posts]` fields as scan reads it.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// The post on this line (1-based) of `--file`.
        #[arg(long, value_name = "N", requires = "file", conflicts_with = "id")]
        line: Option<u64>,
        /// The first post with this id in `--file`.
        #[arg(long, value_name = "ID", requires = "file")]
        id: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
}

/// How `kestrel explain` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ExplainFormat {
    /// For people.
    Text,
    /// One JSON object, for tools.
    Json,
}

/// How `kestrel eval` prints its report.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum EvalFormat {
    /// Tables and lists for people.
    Text,
    /// One JSON object, for CI.
    Json,
}

/// How `kestrel run` writes its logs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    /// One line per event, for people.
    Text,
    /// One JSON object per event, for log pipelines.
    Json,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Load and lint every rule file; every problem with file:line:col.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// Rule directory or file (default: `rules`).
        dir: Option<PathBuf>,
        /// Configuration file (for the text field names).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Run every rule's tests; a readable report of each failure.
    #[command(after_help = EXIT_CODES)]
    Test {
        /// Rule directory or file (default: `rules`).
        dir: Option<PathBuf>,
        /// Configuration file (for the text field names).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print every literal entry (words, substrings, list entries) of the
    /// active and shadow rules, one per line, as written: for comparing
    /// kestrel with other matchers over the same literals.
    Literals {
        /// Rule directory or file (default: `rules`).
        dir: Option<PathBuf>,
    },
}

/// An error that maps to exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A reader that stopped early (`| head`) is not a failure.
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("kestrel: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<kestrel::config::ConfigError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan {
            files,
            rules,
            config,
            workers,
            quiet,
            skip_rule_tests,
            progress_every,
        } => cmd_scan(
            files,
            rules,
            config,
            workers,
            quiet,
            skip_rule_tests,
            progress_every,
        ),
        Command::Run {
            config,
            print_config,
            log_format,
        } => cmd_run(config, print_config, log_format),
        Command::Rules { command } => match command {
            RulesCommand::Check {
                dir,
                config,
                strict,
            } => cmd_check(dir, config, strict),
            RulesCommand::Test { dir, config } => cmd_test(dir, config),
            RulesCommand::Literals { dir } => cmd_literals(dir),
        },
        Command::Explain {
            text,
            rules,
            config,
            fields,
            rule,
            file,
            line,
            id,
            format,
        } => cmd_explain(
            ExplainArgs {
                text,
                extra: fields,
                rule,
                file,
                line,
                id,
                format,
            },
            rules,
            config,
        ),
        Command::Eval {
            file,
            rules,
            config,
            format,
            active_only,
            floors,
        } => cmd_eval(file, rules, config, format, active_only, floors),
    }
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(Config::load(path, std::env::vars())?)
}

/// Loads and compiles the rules, printing every problem; `None` when the set
/// has errors.
fn load_engine(
    dir: &Path,
    config: &Config,
    include_disabled: bool,
) -> Result<Option<(Engine, Vec<rules::Problem>)>> {
    let options = EngineOptions {
        text_fields: config.posts.field_names(),
        include_disabled,
        limits: config.rules.limits,
        ..EngineOptions::default()
    };
    match RulePack::load(dir, &options, RuleTests::Skip) {
        Ok(pack) => Ok(Some(pack.into_parts())),
        Err(PackError::Rules {
            problems, errors, ..
        }) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "kestrel: {errors} error(s) in the rules at {}",
                dir.display()
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs the rules' own tests; false (after saying which failed, on stderr)
/// when any fails. The contract: a set whose tests fail is never served.
fn rule_tests_pass(engine: &Engine, dir: &Path) -> bool {
    let report = kestrel::ruletest::run(engine);
    if report.passed() {
        return true;
    }
    for f in &report.failures {
        eprintln!("{}", f.line());
    }
    eprintln!(
        "kestrel: {} rule test(s) fail in {}; `kestrel rules test {}` shows why",
        report.failures.len(),
        dir.display(),
        dir.display()
    );
    false
}

fn rules_dir(explicit: Option<PathBuf>, config: &Config) -> PathBuf {
    explicit.unwrap_or_else(|| config.rules.dir.clone())
}

fn cmd_scan(
    files: Vec<PathBuf>,
    rules: Option<PathBuf>,
    config: Option<PathBuf>,
    workers: Option<usize>,
    quiet: bool,
    skip_rule_tests: bool,
    progress_every: Option<f64>,
) -> Result<ExitCode> {
    let config = load_config(config.as_deref())?;
    let schema = Arc::new(config.posts.schema()?);
    let dir = rules_dir(rules, &config);
    // A broken rule set stops the scan before it reads a post.
    let Some((engine, warnings)) = load_engine(&dir, &config, false)? else {
        return Ok(ExitCode::from(1));
    };
    if !warnings.is_empty() && !quiet {
        eprintln!(
            "kestrel: the rules have {} warning(s); `kestrel rules check {}` lists them",
            warnings.len(),
            dir.display()
        );
    }
    if !rule_tests_pass(&engine, &dir) {
        if !skip_rule_tests {
            eprintln!("kestrel: not scanning with a rule set whose tests fail (--skip-rule-tests scans anyway)");
            return Ok(ExitCode::from(1));
        }
        eprintln!("kestrel: --skip-rule-tests: scanning with a rule set whose tests fail");
    }
    let engine = Arc::new(engine);
    let inputs: Vec<Input> = if files.is_empty() {
        vec![Input::Stdin]
    } else {
        files
            .into_iter()
            .map(|f| {
                if f.as_os_str() == "-" {
                    Input::Stdin
                } else {
                    Input::File(f)
                }
            })
            .collect()
    };
    let options = ScanOptions {
        workers: workers
            .unwrap_or_else(|| config.pipeline.worker_count())
            .max(1),
        evidence: config.alerts.evidence,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut err = io::stderr();
    // On a terminal one line rewritten in place; elsewhere (a log, a CI job)
    // a full line now and then, so a long scan is never silent until the end.
    let terminal = io::stderr().is_terminal();
    let every = progress_every.unwrap_or(if terminal { 1.0 } else { 10.0 });
    let show_progress = !quiet && every > 0.0;
    let mut last = Instant::now();
    let mut shown = false;
    let mut progress = |s: &scan::ScanSummary| {
        if show_progress && last.elapsed().as_secs_f64() >= every {
            last = Instant::now();
            let secs = s.elapsed.as_secs_f64().max(1e-9);
            let line = format!(
                "{} posts, {:.1} MB, {} alerts, {:.1} MB/s",
                s.posts,
                s.bytes as f64 / 1e6,
                s.alerts + s.shadow_alerts,
                s.bytes as f64 / 1e6 / secs
            );
            if terminal {
                shown = true;
                eprint!("\r{line}   ");
            } else {
                eprintln!("kestrel scan: progress: {line}");
            }
        }
    };
    let mut messages = io::stderr();
    let result = scan::scan(
        &inputs,
        engine.clone(),
        schema,
        &options,
        &mut out,
        &mut messages,
        &mut progress,
    );
    if shown {
        eprint!("\r");
    }
    let summary = match result {
        Ok(s) => s,
        Err(scan::ScanError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return Ok(ExitCode::SUCCESS)
        }
        Err(e) => return Err(e.into()),
    };
    if !quiet {
        let _ = err.write_all(
            summary
                .render(engine.ruleset_hash(), engine.rule_set().rules.len())
                .as_bytes(),
        );
    }
    Ok(if summary.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn cmd_check(dir: Option<PathBuf>, config: Option<PathBuf>, strict: bool) -> Result<ExitCode> {
    let config = load_config(config.as_deref())?;
    let dir = dir.unwrap_or_else(|| config.rules.dir.clone());
    let Some((engine, warnings)) = load_engine(&dir, &config, true)? else {
        return Ok(ExitCode::from(1));
    };
    for w in &warnings {
        println!("{w}");
    }
    let set = engine.rule_set();
    let count = |s: rules::Status| set.rules.iter().filter(|r| r.status == s).count();
    println!(
        "{} rules ({} active, {} shadow, {} disabled) in {} files, {} literal patterns; {} warning(s); ruleset {}",
        set.rules.len(),
        count(rules::Status::Active),
        count(rules::Status::Shadow),
        count(rules::Status::Disabled),
        set.files.len(),
        engine.literal_count(),
        warnings.len(),
        set.hash
    );
    if strict && !warnings.is_empty() {
        eprintln!(
            "kestrel: --strict: {} warning(s) count as errors",
            warnings.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_test(dir: Option<PathBuf>, config: Option<PathBuf>) -> Result<ExitCode> {
    let config = load_config(config.as_deref())?;
    let dir = dir.unwrap_or_else(|| config.rules.dir.clone());
    let Some((engine, _)) = load_engine(&dir, &config, false)? else {
        return Ok(ExitCode::from(1));
    };
    let report = kestrel::ruletest::run(&engine);
    print!("{}", report.render());
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn cmd_literals(dir: Option<PathBuf>) -> Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("rules"));
    let loaded = match rules::load_dir(&dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out: Vec<&str> = Vec::new();
    for rule in &loaded.set.rules {
        if rule.status == rules::Status::Disabled {
            continue;
        }
        for term in &rule.terms {
            match &term.kind {
                rules::TermKind::Words(v) | rules::TermKind::Substrings(v) => {
                    out.extend(v.iter().map(String::as_str))
                }
                rules::TermKind::List { entries, .. } => {
                    out.extend(entries.iter().map(String::as_str))
                }
                rules::TermKind::Lexicon(lex) => {
                    for p in &lex.parts {
                        out.extend(p.words.iter().map(String::as_str));
                        out.extend(p.substrings.iter().map(String::as_str));
                        out.extend(p.list.iter().map(String::as_str));
                    }
                }
                _ => {}
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    let mut stdout = io::stdout().lock();
    for l in out {
        writeln!(stdout, "{l}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `kestrel explain` was asked to explain, and how.
struct ExplainArgs {
    text: Option<String>,
    extra: Vec<String>,
    rule: Option<String>,
    file: Option<PathBuf>,
    line: Option<u64>,
    id: Option<String>,
    format: ExplainFormat,
}

fn cmd_explain(
    args: ExplainArgs,
    rules: Option<PathBuf>,
    config: Option<PathBuf>,
) -> Result<ExitCode> {
    let config = load_config(config.as_deref())?;
    let dir = rules_dir(rules, &config);
    let Some((engine, _)) = load_engine(&dir, &config, true)? else {
        return Ok(ExitCode::from(1));
    };
    let only = match &args.rule {
        None => None,
        Some(id) => Some(
            engine
                .rule_set()
                .rules
                .iter()
                .position(|r| &r.id == id)
                .ok_or_else(|| {
                    UsageError(format!("--rule {id}: no such rule in {}", dir.display()))
                })?,
        ),
    };
    let mut owned: Vec<(String, String)> = Vec::new();
    if let Some(file) = &args.file {
        if args.text.is_some() {
            return Err(UsageError("explain takes a TEXT or --file, not both".into()).into());
        }
        owned = post_from_file(file, args.line, args.id.as_deref(), &config)?;
    }
    match args.text.as_deref() {
        Some("-") => {
            let mut s = String::new();
            io::Read::read_to_string(&mut io::stdin(), &mut s).context("reading stdin")?;
            owned.push((
                engine.default_field().to_string(),
                s.trim_end_matches('\n').to_string(),
            ));
        }
        Some(t) => owned.push((engine.default_field().to_string(), t.to_string())),
        None => {}
    }
    for f in args.extra {
        let Some((name, value)) = f.split_once('=') else {
            return Err(UsageError(format!("--field {f:?}: expected NAME=TEXT")).into());
        };
        owned.push((name.to_string(), value.to_string()));
    }
    if owned.is_empty() && args.file.is_none() {
        return Err(
            UsageError("explain needs a TEXT, --field NAME=TEXT or --file FILE".into()).into(),
        );
    }
    let fields: Vec<(&str, &str)> = owned
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let mut stdout = io::stdout().lock();
    match args.format {
        ExplainFormat::Text => write!(
            stdout,
            "{}",
            kestrel::explain::explain_rules(&engine, &fields, only)
        )?,
        ExplainFormat::Json => writeln!(
            stdout,
            "{}",
            kestrel::explain::explain_json(&engine, &fields, only)
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The text fields of one post of a JSONL file, chosen by line or by id,
/// read with the configured schema exactly as `scan` reads it.
fn post_from_file(
    file: &Path,
    line: Option<u64>,
    id: Option<&str>,
    config: &Config,
) -> Result<Vec<(String, String)>> {
    use std::io::BufRead;
    if line.is_none() == id.is_none() {
        return Err(UsageError("--file needs --line N or --id ID".into()).into());
    }
    let schema = config.posts.schema()?;
    let reader = io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    for (i, l) in reader.split(b'\n').enumerate() {
        let n = i as u64 + 1;
        let l = l.with_context(|| format!("cannot read {}", file.display()))?;
        if line.is_some_and(|want| want != n) {
            continue;
        }
        let raw = l.strip_suffix(b"\r").unwrap_or(&l);
        let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
        let post = match schema.parse(raw) {
            Ok(p) => p,
            Err(e) if line.is_some() => {
                anyhow::bail!("{}:{n}: bad post: {e}", file.display())
            }
            Err(_) => continue,
        };
        if id.is_some_and(|want| post.id != want) {
            continue;
        }
        return Ok(post
            .fields
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect());
    }
    match (line, id) {
        (Some(n), _) => anyhow::bail!("{}: has no line {n}", file.display()),
        (_, Some(id)) => anyhow::bail!("{}: no post with id {id:?}", file.display()),
        _ => unreachable!("checked above"),
    }
}

fn cmd_eval(
    file: PathBuf,
    rules: Option<PathBuf>,
    config: Option<PathBuf>,
    format: EvalFormat,
    active_only: bool,
    floors: Vec<String>,
) -> Result<ExitCode> {
    let floors = floors
        .iter()
        .map(|f| kestrel::eval::Floor::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UsageError(e.to_string()))?;
    let config = load_config(config.as_deref())?;
    let schema = config.posts.schema()?;
    let dir = rules_dir(rules, &config);
    let Some((engine, _)) = load_engine(&dir, &config, false)? else {
        return Ok(ExitCode::from(1));
    };
    let options = kestrel::eval::EvalOptions {
        active_only,
        floors,
    };
    let report = kestrel::eval::evaluate(&engine, &schema, &file, &options)?;
    match format {
        EvalFormat::Text => print!("{}", report.render_text()),
        EvalFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if report.passed() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "kestrel: eval: floor(s) failed: {}",
            report.failed_floors().join(", ")
        );
        Ok(ExitCode::from(1))
    }
}

fn init_logs(format: LogFormat) {
    kestrel::logging::init(match format {
        LogFormat::Text => kestrel::logging::Format::Text,
        LogFormat::Json => kestrel::logging::Format::Json,
    });
}

fn cmd_run(config: Option<PathBuf>, print_config: bool, log_format: LogFormat) -> Result<ExitCode> {
    use kestrel::pipeline::{self, Counters, RunContext, Stopped};
    // The signal thread starts before anything else, so a stop that arrives
    // while the rules load still ends in a clean exit 0 rather than the
    // signal's default kill.
    let shutdown = Shutdown::new();
    let operator = Arc::new(OnceLock::new());
    start_signal_thread(shutdown.clone(), operator.clone())?;
    let config = load_config(config.as_deref())?;
    if print_config {
        print!("{}", config.to_masked_toml());
        return Ok(ExitCode::SUCCESS);
    }
    init_logs(log_format);
    let schema = Arc::new(config.posts.schema()?);
    let dir = config.rules.dir.clone();
    let Some((engine, warnings)) = load_engine(&dir, &config, false)? else {
        return Ok(ExitCode::from(1));
    };
    // The same gate as hot reload: a set whose tests fail is never served.
    if !rule_tests_pass(&engine, &dir) {
        tracing::error!(dir = %dir.display(), "the rule tests fail; not starting");
        return Ok(ExitCode::from(1));
    }
    tracing::info!(
        rules = engine.rule_set().rules.len(),
        ruleset = %engine.ruleset_hash(),
        warnings = warnings.len(),
        dir = %dir.display(),
        "rules loaded"
    );
    let bound = std::time::Duration::from_millis(config.pipeline.shutdown_timeout_ms);
    let options = EngineOptions {
        text_fields: config.posts.field_names(),
        limits: config.rules.limits,
        ..EngineOptions::default()
    };
    let serving = Arc::new(kestrel::reload::ServingRules::new(
        engine,
        &dir,
        options,
        config.flood_guard.clone(),
    ));
    if shutdown.is_triggered() {
        tracing::info!("stopped before consuming anything");
        return Ok(ExitCode::SUCCESS);
    }
    let counters = Arc::new(Counters::default());
    // Metrics, health, status page and reloads; stopped when `ops` drops at
    // the end of the run. From here on SIGHUP and SIGUSR1 act on it.
    let ops = kestrel::ops::Ops::start(&config, serving.clone(), counters.clone())?;
    let _ = operator.set(ops.operator());
    let ctx = RunContext {
        config,
        engine: serving,
        schema,
        counters,
        shutdown: shutdown.clone(),
    };
    // The async runtime only supervises: it waits for the pipeline or the
    // shutdown; the Kafka clients and the scan workers run on threads of
    // their own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async move {
        let mut pipeline = tokio::task::spawn_blocking(move || pipeline::run(ctx));
        tokio::select! {
            r = &mut pipeline => return Some(r),
            () = shutdown.triggered() => {}
        }
        tracing::info!(
            bound_ms = bound.as_millis() as u64,
            reason = %shutdown.reason().map_or(String::new(), |r| r.to_string()),
            "stopping: finishing the posts in flight"
        );
        // The pipeline bounds itself; this is the backstop.
        tokio::time::timeout(bound + std::time::Duration::from_secs(2), &mut pipeline)
            .await
            .ok()
    });
    // Threads stuck on an unreachable broker must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    drop(ops);
    match outcome {
        None => {
            eprintln!("kestrel: error: the pipeline did not stop within the shutdown bound");
            Ok(ExitCode::from(1))
        }
        Some(Err(join)) => Err(anyhow::anyhow!("the pipeline panicked: {join}")),
        Some(Ok(Err(e))) => Err(e.into()),
        Some(Ok(Ok(Stopped::Drained))) => Ok(ExitCode::SUCCESS),
        Some(Ok(Ok(Stopped::TimedOut { in_flight }))) => {
            eprintln!(
                "kestrel: error: {in_flight} posts were still in flight when the shutdown bound passed; they were not committed and will be read again"
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// The process's one signal thread. SIGTERM and SIGINT trigger the run's
/// shutdown; a second one ends the process at once with status 1, for an
/// operator who will not wait for the drain. SIGHUP and SIGUSR1 go to the
/// operations side once it runs (see `kestrel::ops::Operator`); before that
/// they are logged and ignored, never the end of the process.
fn start_signal_thread(
    shutdown: Shutdown,
    operator: Arc<OnceLock<kestrel::ops::Operator>>,
) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        .context("installing the signal handlers")?;
    std::thread::Builder::new()
        .name("kestrel-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match (signal, operator.get()) {
                    (SIGTERM | SIGINT, _) => {
                        let name = if signal == SIGTERM {
                            "SIGTERM"
                        } else {
                            "SIGINT"
                        };
                        if !shutdown.trigger(Reason::Signal(name)) {
                            signal_hook::low_level::exit(1);
                        }
                    }
                    (SIGHUP, Some(operator)) => operator.reload_rules(),
                    (SIGUSR1, Some(operator)) => operator.reset_flood(),
                    (SIGHUP | SIGUSR1, None) => {
                        tracing::info!(signal, "ignored: the service is not running yet")
                    }
                    _ => {}
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
