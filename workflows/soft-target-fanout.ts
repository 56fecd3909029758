/**
 * Fan-out teacher inference (docs/ARCHITECTURE.md, "Fan-out teacher inference"): every (teacher, block) of the
 * transfer set is one compute activity, so every compute worker takes a share and a failed block retries alone.
 * Batches of BLOCKS_PER_CHILD run in child workflows, so the parent's history grows by a few events per batch,
 * not per block; only references travel. Workflow code.
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { ComputeActivities } from '../activities/compute';
import type { SoftTargetsRequest, TeacherMember } from '../activities/teacher-requests';
import type { DataPlanRef, SoftTargetsRef } from '../contracts/exchange';
import {
  BLOCKS_IN_FLIGHT,
  BLOCKS_PER_CHILD,
  CHILDREN_IN_FLIGHT,
  blockJob,
  boundedAll,
  membersOf,
} from '../common/soft-target-blocks';

/** One child's share: jobs [from, to) of the run's flat (member, block) list. */
export interface SoftTargetBlocksInput {
  key: string;
  data: DataPlanRef;
  members: TeacherMember[];
  blockSize: number;
  from: number;
  to: number;
  computeOptions: ActivityOptions;
}

/** What a child did: blocks computed (not found stored) and their inference seconds. */
export interface SoftTargetBlocksResult {
  computed: number;
  seconds: number;
}

/** Child workflow: runs its (member, block) activities, BLOCKS_IN_FLIGHT at a time, on the compute queue. */
export async function softTargetBlocksWorkflow(input: SoftTargetBlocksInput): Promise<SoftTargetBlocksResult> {
  const compute = proxyActivities<ComputeActivities>(input.computeOptions);
  const n = input.data.counts.transfer;
  const done = await boundedAll(input.to - input.from, BLOCKS_IN_FLIGHT, (i) => {
    const job = blockJob(input.from + i, n, input.blockSize);
    const summary = `teacher ${job.member + 1}: logits of transfer examples ${job.start}..${job.start + job.count - 1}`;
    return compute.teacherLogitsBlock.executeWithOptions({ ...input.computeOptions, summary }, [
      { key: input.key, data: input.data, teacher: input.members[job.member]!, ...job },
    ]);
  });
  return {
    computed: done.filter((d) => d.computed).length,
    seconds: done.reduce((a, d) => a + d.seconds, 0),
  };
}

/** The soft targets of a request by fan-out: the blocks in child workflows, then one assembling activity. */
export async function fanOutSoftTargets(
  run: { compute: ReturnType<typeof proxyActivities<ComputeActivities>>; computeOptions: ActivityOptions },
  req: SoftTargetsRequest,
  opts: { blockSize: number; summary: string },
): Promise<SoftTargetsRef> {
  const members = membersOf(req);
  const n = req.data.counts.transfer;
  const jobs = members.length * Math.ceil(n / opts.blockSize);
  const children = Math.ceil(jobs / BLOCKS_PER_CHILD);
  const { workflowId } = workflowInfo();
  const results = await boundedAll(children, CHILDREN_IN_FLIGHT, (c) =>
    executeChild(softTargetBlocksWorkflow, {
      workflowId: `${workflowId}-soft-targets-${c + 1}`,
      args: [
        {
          key: req.key,
          data: req.data,
          members,
          blockSize: opts.blockSize,
          from: c * BLOCKS_PER_CHILD,
          to: Math.min(jobs, (c + 1) * BLOCKS_PER_CHILD),
          computeOptions: run.computeOptions,
        },
      ],
    }),
  );
  const inferenceSeconds = results.reduce((a, r) => a + r.seconds, 0);
  const summary = `${opts.summary}: assemble ${jobs} blocks of ${opts.blockSize}`;
  return run.compute.assembleSoftTargets.executeWithOptions({ ...run.computeOptions, summary }, [
    { ...req, blockSize: opts.blockSize, inferenceSeconds },
  ]);
}
