/**
 * Every `runline` command, in the order the help lists them; program.ts makes the
 * commander program from this list.
 */
import type { Command } from "./command.js";
import { listDeliveriesCommand, redeliverCommand } from "./commands/delivery-commands.js";
import { createKeyCommand, listKeysCommand, revokeKeyCommand } from "./commands/key-commands.js";
import { cancelRunCommand, getRunCommand, listRunsCommand, rerunRunCommand, resumeRunCommand } from "./commands/run-commands.js";
import { createRunCommand } from "./commands/run-create-command.js";
import { runOutputCommand } from "./commands/run-output-command.js";
import { watchRunCommand } from "./commands/run-watch-command.js";
import { migrateCommand, serveCommand } from "./commands/server-commands.js";
import { createTenantCommand, getTenantCommand, updateTenantCommand } from "./commands/tenant-commands.js";
import {
  createWebhookCommand,
  deleteWebhookCommand,
  getWebhookCommand,
  listWebhooksCommand,
  rotateWebhookSecretCommand,
  runWebhookSecretCommand,
  updateWebhookCommand,
} from "./commands/webhook-commands.js";
import { workerCommand } from "./commands/worker-command.js";
import { createWorkflowCommand, listWorkflowsCommand } from "./commands/workflow-commands.js";

/** All commands. */
export const commands: readonly Command[] = [
  serveCommand,
  migrateCommand,
  workerCommand,
  createWorkflowCommand,
  listWorkflowsCommand,
  createRunCommand,
  getRunCommand,
  listRunsCommand,
  watchRunCommand,
  cancelRunCommand,
  resumeRunCommand,
  rerunRunCommand,
  runOutputCommand,
  createWebhookCommand,
  listWebhooksCommand,
  getWebhookCommand,
  updateWebhookCommand,
  deleteWebhookCommand,
  rotateWebhookSecretCommand,
  runWebhookSecretCommand,
  listDeliveriesCommand,
  redeliverCommand,
  createKeyCommand,
  listKeysCommand,
  revokeKeyCommand,
  createTenantCommand,
  getTenantCommand,
  updateTenantCommand,
];
