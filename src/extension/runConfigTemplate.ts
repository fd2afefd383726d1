// The run config New Run Config writes (without `vscode`, so a unit test validates it against the JSON
// Schema and the trainer's own loader): small model and step counts that finish on a laptop's CPU, and
// the dataset the user chose, so the file is valid and runnable as written.

/** File names run configs get: `*.alol.jsonc` (VS Code gives them the run config's JSON Schema by name). */
export const RUN_CONFIG_NAME = 'run.alol.jsonc';
export const runConfigName = (k: number): string => (k <= 1 ? RUN_CONFIG_NAME : `run-${k}.alol.jsonc`);

/** The template with `dataPath` (relative to the config file, forward slashes) as data.path. */
export const runConfigTemplate = (dataPath: string): string => `{
  // An A-LoL run config: every field has a default and unknown keys are errors; hover a key for what it
  // does, Ctrl+Space for the keys and values a field takes.
  "data": { "path": ${JSON.stringify(dataPath)}, "format": "auto" },
  "model": { "init": { "layers": 2, "embd": 128, "heads": 4, "positions": 256 } },
  "reference": { "path": null, "sft": { "steps": 600, "lr": 2e-3 } },
  "rewards": [
    { "name": "sentiment", "kind": "builtin", "scorer": "sentiment", "weight": 1 }
  ],
  "value": { "fitOn": "train" },
  "train": { "variant": "a_lol", "steps": 400, "lr": 5e-4 },
  "eval": { "maxNewTokens": 64, "maxPrompts": 50, "samplesPerPrompt": 4 }
}
`;
