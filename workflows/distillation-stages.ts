/**
 * The distillation pipeline's stages after training: every model evaluated (the teacher ensemble beside them),
 * the chosen student exported (and quantised), every model measured. Workflow code.
 */
import type { ExportedModel, ModelOutcome, QuantizedExport } from '../reports/distillation-markdown';
import type { ImportedTeacherRef } from '../activities/teacher-import';
import type { EvaluationSummary, MeasureResult, ModelRef } from '../contracts/exchange';
import { chooseExport } from '../common/export-choice';
import { describeMeasure } from './options';
import type { PipelineRun, ToEvaluate } from './teacher-stage';

/**
 * The student to deploy, exported; with the compression report (`measured`) it is chosen on validation and its
 * quantised exports follow, runs recorded before it export the student with the fewest test errors.
 */
export async function exportStage(
  run: PipelineRun,
  models: ModelOutcome[],
  evaluated: ToEvaluate[],
  measured: boolean,
): Promise<ExportedModel | undefined> {
  const chosen = measured ? await exportChosen(run, models, evaluated) : await exportBest(run, models, evaluated);
  const quantized = chosen && measured ? await quantizedExports(run, evaluated, chosen.model) : [];
  return chosen && (quantized.length > 0 ? { ...chosen, quantized } : chosen);
}

/** Every model on the test set; with a class-omitting transfer set, students also get the bias-shift search. */
export function evaluateAll(run: PipelineRun, models: ToEvaluate[]): Promise<EvaluationSummary[]> {
  const t = run.cfg.transfer;
  const biasClasses = t.kind === 'excludeClasses' || t.kind === 'onlyClasses' ? t.classes : undefined;
  return run.progress.stage('evaluate', () =>
    Promise.all(
      models.map((m) => {
        const bias = biasClasses && m.role !== 'teacher' ? { biasClasses } : {};
        const search = 'biasClasses' in bias ? ', with the bias-shift search' : '';
        const summary = `evaluate ${m.name} on the test set${search}`;
        return run.compute.evaluateModel.executeWithOptions({ ...run.computeOptions, summary }, [
          { name: m.name, ...scoredOf(m), data: run.data, ...bias },
        ]);
      }),
    ),
  );
}

/** What evaluateModel is asked to score: the ModelRef, or the imported teacher's ref. */
function scoredOf(m: ToEvaluate): { model: ModelRef } | { imported: ImportedTeacherRef } {
  return 'model' in m ? { model: m.model } : { imported: m.imported };
}

/** The teacher ensemble as one model, scored by the rule the students learn from. */
export function evaluateEnsemble(run: PipelineRun, teachers: ToEvaluate[]): Promise<EvaluationSummary> {
  const summary = `evaluate the ensemble of ${teachers.length} teachers (${run.cfg.ensemble} mean) on the test set`;
  const models = teachers.flatMap((t) => ('model' in t ? [t.model] : []));
  const imported = teachers.flatMap((t) => ('imported' in t ? [t.imported] : []));
  return run.compute.evaluateEnsemble.executeWithOptions({ ...run.computeOptions, summary }, [
    {
      name: 'teacher-ensemble',
      models,
      ...(imported.length > 0 ? { imported } : {}),
      rule: run.cfg.ensemble,
      data: run.data,
    },
  ]);
}

/**
 * Size and speed of every model trained or given here, one after another in one activity so they do not slow each
 * other. Imported teachers are not measured: their exports are not ours to measure alike (the report says so).
 */
export function measureAll(run: PipelineRun, evaluated: ToEvaluate[]): Promise<MeasureResult> {
  const models = evaluated.flatMap((m) => ('model' in m ? [{ name: m.name, model: m.model }] : []));
  const summary = describeMeasure(models.length);
  return run.progress.stage('measure', () =>
    run.compute.measureModels.executeWithOptions({ ...run.computeOptions, summary }, [
      { models, classNames: run.data.classNames },
    ]),
  );
}

/** The ModelRef of a model trained here (exports are only of those). */
function modelNamed(evaluated: ToEvaluate[], name: string): ModelRef {
  const m = evaluated.find((x) => x.name === name);
  if (!m || !('model' in m)) throw new TypeError(`no trained model named ${name}`);
  return m.model;
}

/** The deployable artifact: the student chosen on validation, in the standard tfjs layers format. */
async function exportChosen(
  run: PipelineRun,
  models: ModelOutcome[],
  evaluated: ToEvaluate[],
): Promise<ExportedModel | undefined> {
  const chosen = chooseExport(models);
  if (!chosen) return undefined;
  const { best, chosenBy } = chosen;
  const files = await exportNamed(run, evaluated, best.name, chosenBy.split(' (')[0]!);
  return { model: best.name, ...files, chosenBy };
}

function exportNamed(run: PipelineRun, evaluated: ToEvaluate[], name: string, why: string) {
  const summary = `export ${name} (${why}) in the TensorFlow.js layers format`;
  return run.compute.exportModel.executeWithOptions({ ...run.computeOptions, summary }, [
    { model: modelNamed(evaluated, name), classNames: run.data.classNames },
  ]);
}

/** The chosen student again with quantised weights (config `export.quantize`), each scored on the test set. */
function quantizedExports(run: PipelineRun, evaluated: ToEvaluate[], name: string): Promise<QuantizedExport[]> {
  const model = modelNamed(evaluated, name);
  const { computeOptions: options, compute, data } = run;
  return Promise.all(
    (run.cfg.export?.quantize ?? []).map(async (quantize) => {
      const summary = `export ${name} with ${quantize} weights`;
      const files = await compute.exportModel.executeWithOptions({ ...options, summary }, [
        { model, classNames: data.classNames, quantize },
      ]);
      const score = `evaluate the ${quantize} export of ${name} on the test set`;
      const e = await compute.evaluateExport.executeWithOptions({ ...options, summary: score }, [
        { name: `${name}-${quantize}`, modelJson: files.modelJson, data },
      ]);
      return { quantize, ...files, errors: e.errors, n: e.n };
    }),
  );
}

/** Runs recorded before the compression report: the distilled student with the fewest test errors. */
async function exportBest(
  run: PipelineRun,
  models: ModelOutcome[],
  evaluated: ToEvaluate[],
): Promise<ExportedModel | undefined> {
  const best = models.filter((m) => m.role === 'student').sort((a, b) => a.evaluation.errors - b.evaluation.errors)[0];
  if (!best) return undefined;
  return { model: best.name, ...(await exportNamed(run, evaluated, best.name, 'best student')) };
}
