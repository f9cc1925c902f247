/** `fleet help [command]`. */
import { type ParsedCommand, usage } from './args.js';
import type { CliEnvironment } from './context.js';
import { closest } from './did-you-mean.js';

const COMMON = `  --config PATH      fleet.yaml to read (default ./fleet.yaml)
  --state-dir DIR    where fleet-state.json lives (default: state_dir of fleet.yaml)
  --ladder NAME      the ladder to act on (default: the first in fleet.yaml)
  --json             print JSON for programs
  --pretty           human-readable log lines (serve)
  --log-level LEVEL  trace, debug, info, warn, error (default: warn; serve: info)`;

const TEXTS: Record<string, string> = {
  '': `fleet: queue, schedule and protect the jobs of one Ollama server

Usage: fleet <command> [flags]

Commands:
  status             each ladder's rung, incidents, cooldown and history; Ollama's models
                     (--watch: redraw every 2 s until Ctrl-C)
  downgrade          step a ladder down to its next smaller model
  upgrade            step a ladder up to its next larger model
  reset              put a ladder back at its top (largest) model
  set <model>        put a ladder on one of its models
  serve              run the supervisor (HTTP API on api.port, default 5001)
  submit             send jobs to a supervisor and wait for them (see fleet help submit)
  jobs [ID]          list jobs (--status, --model, --limit), or show one
  pull [MODEL]       make sure Ollama has a model (default: the ladder's current rung)
  sim                an Ollama simulator with a simulated GPU (see the README)
  demo               the simulator and the supervisor together (npm run demo)
  detect [FILE]      flag the VRAM trouble in a saved Ollama log (a file, or stdin)
  help [command]     this text, or one command's
  version            print the version

When a supervisor for the same state file is running, ladder commands go through its API so
it acts at once; otherwise they change the state file under its lock.
fleet-status, fleet-reset and fleet-downgrade are aliases of the commands they name.

Flags:
${COMMON}
  --reason TEXT      why (downgrade, upgrade, reset, set): kept in the ladder's history
  --port N           serve: listen on N instead of api.port

Exit codes: 0 done, 1 refused (e.g. already at the bottom) or failed, 2 usage or config error.
`,
  submit: `fleet submit [--url URL] [--token T] [--model M] [--priority P] [--prompt TEXT]
             [--batch | --random N | --spam N] [--delay S] [--no-check] [--json]

Sends jobs to the supervisor at --url, else FLEET_URL, else fleet.yaml's api address (--config;
with no fleet.yaml, http://localhost:5001), with the token from --token, FLEET_API_TOKEN or
fleet.yaml, then waits for them with a progress bar and prints a
summary: completed, failed, p50/p95 latency. Exit 1 when a job failed.

  --model M      the model, or a ladder alias (default: fleet, the first ladder's rung)
  --priority P   high, normal (default) or low
  --prompt TEXT  the prompt of a single job
  --batch        the predefined set of four jobs across priorities
  --random N     N jobs with random catalogue models, prompts and priorities
  --spam N       N jobs submitted without waiting for them
  --delay S      seconds between submissions
  --no-check     skip the supervisor health check before submitting
`,
  jobs: `fleet jobs [ID] [--url URL] [--token T] [--status S] [--model M] [--limit N] [--json]

Without ID, lists the latest jobs (newest first); with ID, shows that job and its result.
`,
  serve: `fleet serve [--config PATH] [--port N] [--pretty]

Runs the supervisor: the HTTP API (health, ladder admin) on api.host:api.port and the ladder
schedules of fleet.yaml. Stops cleanly on SIGTERM or SIGINT; a second signal forces it.
`,
};

const LADDER_MOVE = (
  verb: string,
  what: string,
) => `fleet ${verb} [--ladder NAME] [--reason TEXT] [--config PATH] [--json]

${what} Through the running supervisor's API when one answers for the same state
file (so it acts at once), else in the state file under its lock. Exit 1 when the ladder
cannot move that way (already at its top or bottom).
`;

Object.assign(TEXTS, {
  status: `fleet status [--ladder NAME] [--json] [--watch] [--cluster] [--config PATH]

Each ladder: its rungs, the current one, incidents within the window (counts), cooldown,
what a step down or up would do, and the last transitions; then VRAM and Ollama's models.
--watch redraws the same picture every 2 s until Ctrl-C.
--cluster adds, on a shared queue (queue.url), every live supervisor and its backends.
`,
  downgrade: LADDER_MOVE('downgrade', 'Steps a ladder down to its next smaller model.'),
  upgrade: LADDER_MOVE('upgrade', 'Steps a ladder up to its next larger model.'),
  reset: LADDER_MOVE(
    'reset',
    'Puts a ladder back at its top (largest) model and clears its incidents.',
  ),
  set: `fleet set MODEL [--ladder NAME] [--reason TEXT] [--config PATH] [--json]

Puts a ladder on one of its models (a rung of fleet.yaml's ladder).
`,
  sim: `fleet sim [--host H] [--port N] [--vram-mib N] [--gpus N] [--time-scale F]
          [--installed a,b] [--ollama-version V] [--max-loaded-models N] [--num-parallel N]
          [--max-queue N] [--keep-alive D] [--context-length N] [--system-ram-mib N] [--debug]
fleet sim nvidia-smi [nvidia-smi's own flags] [--sim-url=URL]

An Ollama simulator with a simulated GPU, for tests and for trying the fleet without a GPU:
Ollama's API and its OpenAI-compatible API, its log lines, its scheduler, injectable VRAM
faults (POST /sim/fault) and a fake nvidia-smi. See the README's "Without a GPU".
`,
  demo: `fleet demo [--config PATH]

The simulator and the supervisor together on this machine (npm run demo): no GPU, no Ollama,
no Docker. Prints what to try: the dashboard, jobs, an injected OOM, the ladder.
`,
  pull: `fleet pull [MODEL | --ladder NAME] [--config PATH] [--json]

Makes sure Ollama (ollama.url) has MODEL, or the ladder's current rung, pulling it with its
progress shown. The supervisor does the same by itself at start and after every ladder step.
`,
  detect: `fleet detect [FILE] [--json] [--config PATH]
fleet detect --score DIR [--json] [--config PATH]

Runs the VRAM-trouble detector of fleet.yaml over a saved Ollama log (FILE, or stdin) and
prints the lines it flags; --json gives {"line", "kind", "severity", "incident"} per line.
--score DIR scores the detector on labelled excerpts (*.log files whose lines start with F,
P or . and a tab; see test/fixtures/ollama-logs/README.md): VRAM failures found, healthy
excerpts flagged, line precision and recall, and the files it got wrong.
`,
});

export async function helpCommand(parsed: ParsedCommand, cli: CliEnvironment): Promise<number> {
  const topic = parsed.positionals[0] ?? '';
  const text = TEXTS[topic];
  if (text === undefined) {
    const near = closest(
      topic,
      Object.keys(TEXTS).filter((t) => t !== ''),
    );
    throw usage(`no help for "${topic}"${near ? `; did you mean "${near}"?` : ''}`);
  }
  cli.stdout(text);
  return 0;
}

/** One command's help text (for commands that parse their own flags, such as `sim`). */
export function helpText(topic: string): string {
  return TEXTS[topic] ?? TEXTS[''] ?? '';
}
