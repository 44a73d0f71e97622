/**
 * The RPC routes: which service implementation answers which service. Kept apart from
 * the server wiring. Called once per server: every protocol, REST included, reaches
 * the one set of service objects built here, which share in-memory state (WorkerService's
 * finish board wakes assignment streams, whichever protocol finished the run).
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { AdminService } from "../../gen/runline/v1/admin_service_pb.js";
import { AuthService } from "../../gen/runline/v1/auth_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { WebhooksService } from "../../gen/runline/v1/webhooks_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import type { AppContext } from "../app-context.js";
import { adminService } from "./admin-service.js";
import { authService } from "./auth-service.js";
import { runsService } from "./runs-service.js";
import { webhooksService } from "./webhooks-service.js";
import { workerService } from "./worker-service.js";
import { workflowsService } from "./workflows-service.js";

/** Builds every Runline service and registers it on `router`. */
export function registerRoutes(router: ConnectRouter, app: AppContext): void {
  router.service(RunsService, runsService(app));
  router.service(WorkflowsService, workflowsService(app));
  router.service(AdminService, adminService(app));
  router.service(WorkerService, workerService(app));
  router.service(WebhooksService, webhooksService(app));
  router.service(AuthService, authService(app));
}

/** The services REST callers reach through their google.api.http annotations. */
export const restServices = [RunsService, WorkflowsService, WorkerService, AdminService, WebhooksService, AuthService];
