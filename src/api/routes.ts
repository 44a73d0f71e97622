/**
 * The RPC routes: which service implementation answers which service. Kept apart from
 * the server wiring so tests and the REST layer can reuse them.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { AdminService } from "../../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../../gen/runline/v1/runs_service_pb.js";
import { WorkerService } from "../../gen/runline/v1/worker_service_pb.js";
import { WorkflowsService } from "../../gen/runline/v1/workflows_service_pb.js";
import type { AppContext } from "../app-context.js";
import { adminService } from "./admin-service.js";
import { runsService } from "./runs-service.js";
import { workerService } from "./worker-service.js";
import { workflowsService } from "./workflows-service.js";

/** Registers every Runline service on `router`. */
export function registerRoutes(app: AppContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(RunsService, runsService(app));
    router.service(WorkflowsService, workflowsService(app));
    router.service(AdminService, adminService(app));
    router.service(WorkerService, workerService(app));
  };
}

/** The services REST callers reach through their google.api.http annotations. */
export const restServices = [RunsService, WorkflowsService, WorkerService, AdminService];
