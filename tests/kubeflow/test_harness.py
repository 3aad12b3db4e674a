"""The harness's own rules, on the compiled files, without running a task: what it refuses
as KFP would, the order it runs tasks in, how it answers Vertex AI's resolver queries, and
the image it stands in for. test_harness_e2e.py runs the files."""
import json
import os
import sys

import pytest
import yaml

import kubeflow_runner
from tests.kubeflow import harness, image, launcher, resolver
from tests.kubeflow.metadata import Store

MODEL_RESOLVER = 'latest_blessed_model_resolver-model-resolver'
BLESSING_RESOLVER = 'latest_blessed_model_resolver-model-blessing-resolver'


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
    """{'kfp': PipelineSpec, 'vertex': PipelineSpec}, compiled in this process."""
    work = tmp_path_factory.mktemp('compiled')
    specs = {}
    for target, name in (('kfp', 'p.yaml'), ('vertex', 'p.json')):
        output = str(work / name)
        assert kubeflow_runner.main(['--target', target, '--output', output,
                                     '--pipeline-root', 'gs://bucket/root', '--image', 'i:1',
                                     '--data-dir', 'gs://bucket/ml-100k']) == 0
        with open(output) as f:
            specs[target] = yaml.safe_load(f) if target == 'kfp' else \
                json.load(f)['pipelineSpec']
    return specs


def test_kfp_refuses_the_vertex_file_and_accepts_its_own(compiled):
    harness.check_accepted(compiled['kfp'], launcher.KFP)
    vertex = json.loads(json.dumps(compiled['vertex']))
    with pytest.raises(harness.Refused, match='KFP only supports schema version 2.1.0, but '
                                              'the pipeline spec has version 2.0.0'):
        harness.check_accepted(vertex, launcher.KFP)
    vertex['schemaVersion'] = '2.1.0'
    with pytest.raises(harness.Refused, match='resolver executors not implemented'):
        harness.check_accepted(vertex, launcher.KFP)
    harness.check_accepted(compiled['vertex'], launcher.VERTEX)


def test_tasks_run_after_what_they_wait_for_and_what_they_read(compiled):
    for spec in compiled.values():
        tasks = spec['root']['dag']['tasks']
        order = harness.task_order(tasks)
        assert sorted(order) == sorted(tasks)
        for name, task in tasks.items():
            upstream = set(task.get('dependentTasks', [])) | {
                artifact['taskOutputArtifact']['producerTask']
                for artifact in task.get('inputs', {}).get('artifacts', {}).values()}
            assert all(order.index(other) < order.index(name) for other in upstream), name
    # The model resolver reads the blessing resolver's answer without waiting for it.
    vertex_tasks = compiled['vertex']['root']['dag']['tasks']
    assert 'dependentTasks' not in vertex_tasks[MODEL_RESOLVER]
    order = harness.task_order(vertex_tasks)
    assert order.index(BLESSING_RESOLVER) < order.index(MODEL_RESOLVER)


def answer(compiled, task, store, inputs):
    spec = compiled['vertex']
    label = spec['components'][task]['executorLabel']
    return resolver.answer(spec['deploymentSpec']['executors'][label]['resolver'], inputs,
                           store, launcher.VERTEX.artifact_name)


def test_resolvers_answer_the_newest_blessed_model_or_nothing(compiled):
    store = Store()
    assert answer(compiled, BLESSING_RESOLVER, store, {}) == {'model_blessing': []}
    assert answer(compiled, MODEL_RESOLVER, store, {'input': []}) == {'model': []}

    old_model = store.record('tfx.Model', '/models/1', {})
    blessed = store.record('tfx.ModelBlessing', '/blessings/1', {
        'blessed': 1.0, 'current_model_id': launcher.VERTEX.artifact_name(old_model)})
    new_model = store.record('tfx.Model', '/models/2', {})
    store.record('tfx.ModelBlessing', '/blessings/2', {
        'blessed': 0.0, 'current_model_id': launcher.VERTEX.artifact_name(new_model)})

    blessings = answer(compiled, BLESSING_RESOLVER, store, {})
    assert blessings == {'model_blessing': [blessed]}
    assert answer(compiled, MODEL_RESOLVER, store, {'input': blessings['model_blessing']}) == \
        {'model': [old_model]}


def test_the_image_stands_in_for_the_dockerfile_on_this_checkout(tmp_path):
    dockerfile = tmp_path / 'Dockerfile'
    dockerfile.write_text('FROM base\nENV TF_USE_LEGACY_KERAS=1\nENV DATA=/app/data\n'
                          'WORKDIR /app\n')
    stand_in = image.Image(str(dockerfile), checkout='/checkout')
    assert stand_in.cwd == '/checkout'
    assert stand_in.local_path('/app/pipeline/schema.pbtxt') == \
        '/checkout/pipeline/schema.pbtxt'
    assert stand_in.local_path('/application/x') == '/application/x'
    assert stand_in.local_path('gs://bucket/app') == 'gs://bucket/app'
    environment = stand_in.environment()
    assert (environment['TF_USE_LEGACY_KERAS'], environment['DATA']) == ('1', '/checkout/data')
    assert 'PYTHONPATH' not in environment
    # The image's `python` is this virtual environment's.
    assert environment['PATH'].split(os.pathsep)[0] == os.path.dirname(sys.executable)


def test_the_project_dockerfile_gives_the_harness_its_workdir_and_keras():
    stand_in = image.Image()
    assert stand_in.workdir == kubeflow_runner.IMAGE_PROJECT_DIR
    assert stand_in.cwd == image.REPO
    assert stand_in.environment()['TF_USE_LEGACY_KERAS'] == '1'
