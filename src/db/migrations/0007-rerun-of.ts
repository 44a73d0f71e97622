/**
 * Migration 0007: runs started by RerunRun name the run they repeat (issue 15).
 *
 * `rerun_of` is a plain uuid, not a foreign key: deleting the original keeps the link
 * as history (RerunRun's proto says the original may be gone), and DeleteRun needs no
 * index over referrers to check. A nullable column without a default is a catalog-only
 * change in Postgres: no table rewrite, however many runs are stored.
 * Forward-only: never edited once landed.
 */
import { Migration } from "@mikro-orm/migrations";

/** The rerun_of column of runs. */
export class RerunOf extends Migration {
  override name = "0007-rerun-of";

  override up(): void {
    this.addSql(`alter table runs add column rerun_of uuid`);
  }
}
