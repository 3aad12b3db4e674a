"""kubeflow_runner.py for both targets, the Dockerfile, and the wheel that the image installs.

The expensive part runs once, in one subprocess. The project's wheel is built from a copy
of the Docker build context and installed alone in a fresh virtual environment, which sees
.venv's dependencies but not this checkout. There kubeflow_runner.py compiles the pipeline
with the network refused, and every dotted path and command module in the compiled files
is imported. The tests read the compiled files and what that subprocess reported;
tests/kubeflow/ runs the compiled files task by task.
"""
import argparse
import inspect
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest
from google.protobuf import json_format
from kfp import components as kfp_components
from kfp.client import client as kfp_client
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
import local_runner
from components import curated_schema
from pipeline import configs
from tests.kubeflow import image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('pipeline', 'components', 'models')
IMAGE = 'registry.example/movielens:1'
GS_ROOT = 'gs://bucket/root'
DATAFLOW_ARGS = ['--runner=DataflowRunner', '--project=my-project', '--region=europe-west1',
                 '--temp_location=gs://bucket/tmp']
MODEL_RESOLVER = 'latest_blessed_model_resolver-model-resolver'
SERVED_BASELINE = 'LatestServedModel'
BLESSING_RESOLVER = 'latest_blessed_model_resolver-model-blessing-resolver'
# Each task and the tasks it waits for. The resolver of the last blessed model compiles to
# two tasks: the model resolver reads the blessing resolver's output artifact.
DEPENDENCIES = {
    'MovieLensExampleGen': set(),
    'StatisticsGen': {'MovieLensExampleGen'},
    'CuratedSchemaGen': {'MovieLensExampleGen'},  # the schema follows the release
    'ExampleValidator': {'StatisticsGen', 'CuratedSchemaGen'},
    'AnomalyGate': {'ExampleValidator', 'CuratedSchemaGen'},
    'Transform': {'AnomalyGate', 'MovieLensExampleGen'},
    'Trainer': {'Transform', 'MovieLensExampleGen'},  # the graph, and the raw examples
    BLESSING_RESOLVER: set(),
    MODEL_RESOLVER: set(),
    'Evaluator': {'MovieLensExampleGen', 'Trainer', MODEL_RESOLVER},
    'Pusher': {'Evaluator', 'Trainer'},
}
# --target kfp: no resolver; the served model is the Evaluator's baseline.
KFP_DEPENDENCIES = {
    **{task: upstream for task, upstream in DEPENDENCIES.items()
       if task not in (MODEL_RESOLVER, BLESSING_RESOLVER)},
    SERVED_BASELINE: set(),
    'Evaluator': {'MovieLensExampleGen', 'Trainer', SERVED_BASELINE},
}
BEAM_COMPONENTS = ('MovieLensExampleGen', 'StatisticsGen', 'Transform', 'Evaluator')
PROJECT_DOTTED_PATHS = {
    'components.movielens.executor.Executor',
    'components.anomaly_gate.AnomalyGate_Executor',
    'components.curated_schema.CuratedSchemaGen_Executor',
    'components.atomic_pusher.AtomicPushExecutor',
    'components.served_baseline.LatestServedModel_Executor',
    'components.served_baseline.ServedBaselineEvaluatorExecutor',
    'components.batched_reads.StatisticsGenExecutor',
    'components.batched_reads.TransformExecutor',
    'components.batched_reads.EvaluatorExecutor',
    configs.PREPROCESSING_FN,
    configs.RUN_FN,
}
TFX_ENTRYPOINT = 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'
TFX_EXAMPLE_GEN_DRIVER = 'tfx.orchestration.kubeflow.v2.file_based_example_gen.driver'

# GroupLens 100K files, a few rows each: compiling only looks at which files exist.
GROUPLENS_FILES = {
    'u.data': '1\t1\t5\t874965758\n2\t1\t4\t876893171\n',
    'u.item': '1|Toy Story (1995)|01-Jan-1995||http://example.com/1|'
              '0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n',
    'u.user': '1|24|M|technician|85711\n2|53|F|other|94043\n',
    'u1.base': '1\t1\t5\t874965758\n',
    'u1.test': '2\t1\t4\t876893171\n',
}


def parameter(job: dict, task: str, name: str):
    """A constant input parameter of a task in a compiled pipeline, schema 2.0.0 or 2.1.0."""
    tasks = job['pipelineSpec']['root']['dag']['tasks']
    value = tasks[task]['inputs']['parameters'][name]['runtimeValue']
    return value['constant'] if 'constant' in value else value['constantValue']['stringValue']


def dotted_paths(job: dict) -> set:
    """Every executor class, run_fn and preprocessing_fn that a compiled pipeline names."""
    paths = set()
    for executor in job['pipelineSpec']['deploymentSpec']['executors'].values():
        args = executor.get('container', {}).get('args', [])
        if '--executor_class_path' in args:
            paths.add(args[args.index('--executor_class_path') + 1])
    paths.add(parameter(job, 'Trainer', 'run_fn'))
    paths.add(parameter(job, 'Transform', 'preprocessing_fn'))
    return paths


def containers(job: dict) -> dict:
    """Every container a compiled pipeline runs, by executor label (':driver' for the
    ExampleGen's preCacheCheck, which only Vertex AI runs)."""
    found = {}
    for label, executor in job['pipelineSpec']['deploymentSpec']['executors'].items():
        if 'container' in executor:
            found[label] = executor['container']
            driver = executor['container'].get('lifecycle', {}).get('preCacheCheck')
            if driver:
                found[f'{label}:driver'] = driver
    return found


def command_modules(job: dict) -> set:
    """The modules that the containers' commands run, `python -m MODULE`."""
    modules = set()
    for container in containers(job).values():
        assert container['command'][:2] == ['python', '-m'], container['command']
        modules.add(container['command'][2])
    return modules


def load_compiled(path: str) -> dict:
    """A compiled file as a PipelineJob dict; a .yaml file holds only its pipelineSpec."""
    import yaml

    with open(path) as f:
        return json.load(f) if path.endswith('.json') else {'pipelineSpec': yaml.safe_load(f)}


# The project's files, read as the Docker build reads them.

def read(name):
    with open(os.path.join(REPO, name)) as f:
        return f.read()


def dockerfile_instructions(keyword):
    """The arguments of every `keyword` instruction, continuation lines joined."""
    text = read('Dockerfile').replace('\\\n', ' ')
    return [arguments.strip() for arguments in
            re.findall(rf'^{keyword} (.+)$', text, re.MULTILINE)]


def copied_sources():
    """What the Dockerfile copies from the build context (not from other images)."""
    sources = []
    for arguments in dockerfile_instructions('COPY'):
        if not arguments.startswith('--from'):
            sources += arguments.split()[:-1]
    return sources


def locked_version(package):
    return re.search(rf'^{re.escape(package)}==(\S+)$', read('requirements.lock'),
                     re.MULTILINE).group(1)


# Runs in the wheel-only venv: executes kubeflow_runner.py as its command line would, once
# per entry of `runs`, then imports every dotted path and command module that the
# `import_from` pipelines name.
CHILD = textwrap.dedent('''
    import contextlib, importlib, io, json, os, runpy, socket, sys

    {helpers}

    with open(sys.argv[1]) as f:
        request = json.load(f)
    network_attempts = []


    def refuse(*args, **kwargs):
        network_attempts.append(repr(args[1:] or kwargs))
        raise OSError('no network while compiling')


    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse

    runs = {{}}
    for name, argv in request['runs'].items():
        sys.argv = [request['runner'], *argv]
        messages = io.StringIO()
        try:
            with contextlib.redirect_stderr(messages):
                runpy.run_path(request['runner'], run_name='__main__')
            exit_code = 0
        except SystemExit as exit:
            exit_code = exit.code
        except Exception as error:  # reported; the tests assert on it
            exit_code = f'{{type(error).__name__}}: {{error}}'
        runs[name] = {{'exit_code': exit_code, 'stderr': messages.getvalue()}}

    imports = {{}}
    jobs = [load_compiled(path) for path in request['import_from']]
    paths = set().union(*map(dotted_paths, jobs))
    modules = set().union(*map(command_modules, jobs))
    for path in sorted(paths | modules):
        module_name, attribute = (path, None) if path in modules else path.rsplit('.', 1)
        try:
            module = importlib.import_module(module_name)
            if attribute:
                getattr(module, attribute)
            imports[path] = {{'file': os.path.realpath(module.__file__)}}
        except Exception as error:  # reported; the tests assert on it
            imports[path] = {{'error': f'{{type(error).__name__}}: {{error}}'}}

    with open(request['report'], 'w') as f:
        json.dump(dict(runs=runs, imports=imports, network_attempts=network_attempts,
                       keras=os.environ.get('TF_USE_LEGACY_KERAS')), f)
''').format(helpers='\n'.join(inspect.getsource(function) for function in
                              (parameter, dotted_paths, containers, command_modules,
                               load_compiled)))


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode:
        pytest.fail(f'{" ".join(map(str, command))} exited with {result.returncode}:\n'
                    f'{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result


def build_wheel(work: str) -> str:
    """Builds the wheel from a copy of what .dockerignore lets into the image's build."""
    source = os.path.join(work, 'source')
    os.makedirs(source)
    shutil.copy(os.path.join(REPO, 'setup.py'), source)
    for package in PACKAGES:
        shutil.copytree(os.path.join(REPO, package), os.path.join(source, package),
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    wheels = os.path.join(work, 'wheels')
    run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--disable-pip-version-check',
         '--no-deps', '--no-build-isolation', '--wheel-dir', wheels, source])
    [wheel] = os.listdir(wheels)
    return os.path.join(wheels, wheel)


def wheel_only_venv(work: str, wheel: str) -> str:
    """A venv holding the wheel, which sees .venv's packages but not this checkout.

    A plain path in a .pth file adds .venv's site-packages without running the .pth files
    there, among them the editable install's finder that maps the packages to this checkout.
    """
    venv = os.path.join(work, 'venv')
    run([sys.executable, '-m', 'venv', '--without-pip', venv])
    python = os.path.join(venv, 'bin', 'python')
    site_packages = run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']
                        ).stdout.strip()
    with open(os.path.join(site_packages, 'dependencies.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    run([sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
         '--no-deps', '--no-index', '--target', site_packages, wheel])
    return python


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return str(tmp_path_factory.mktemp('kubeflow'))


@pytest.fixture(scope='module')
def data_dir(work):
    directory = os.path.join(work, 'ml-100k')
    os.makedirs(directory)
    for name, text in GROUPLENS_FILES.items():
        with open(os.path.join(directory, name), 'w') as f:
            f.write(text)
    return directory


@pytest.fixture(scope='module')
def wheel(work):
    return build_wheel(work)


@pytest.fixture(scope='module')
def compiled(work, wheel, data_dir):
    """Compiles four pipelines in the wheel-only venv; returns their files and the report.

    vertex: a gs:// root, Dataflow, every training flag. vertex_yaml: YAML, a local root,
    defaults. kfp: --target kfp, defaults. gs_data: the example of docs/kubeflow.md, data
    in a bucket.
    """
    python = wheel_only_venv(work, wheel)
    files = {'vertex': os.path.join(work, 'out', 'pipeline.json'),
             'vertex_yaml': os.path.join(work, 'out', 'vertex.yaml'),
             'kfp': os.path.join(work, 'out', 'kfp.yaml'),
             'gs_data': os.path.join(work, 'out', 'gs-data.json'),
             'local_root': os.path.join(work, 'local-root'),
             'report': os.path.join(work, 'report.json')}
    common = ['--image', IMAGE]
    runs = {
        'vertex': ['--output', files['vertex'], '--pipeline-root', GS_ROOT,
                   '--data-dir', data_dir, *common,
                   *[f'--beam-arg={arg}' for arg in DATAFLOW_ARGS],
                   '--architecture', 'notebook', '--seed', '7', '--train-steps', '11',
                   '--rmse-threshold', '0.95', '--predefined-split', 'u1', '--skip-bad-rows'],
        'vertex_yaml': ['--output', files['vertex_yaml'], '--pipeline-root',
                        files['local_root'], '--data-dir', data_dir, *common],
        'kfp': ['--target', 'kfp', '--output', files['kfp'], '--pipeline-root', GS_ROOT,
                '--data-dir', data_dir, '--serving-dir', 'gs://bucket/models', *common],
        'gs_data': ['--output', files['gs_data'], '--pipeline-root', GS_ROOT,
                    '--data-dir', 'gs://bucket/ml-100k', *common],
    }
    request = os.path.join(work, 'request.json')
    with open(request, 'w') as f:
        json.dump(dict(runner=os.path.join(REPO, 'kubeflow_runner.py'), runs=runs,
                       import_from=[files['vertex'], files['kfp']], report=files['report']),
                  f)
    # Nowhere the checkout could come from: not the working directory, not PYTHONPATH (-I).
    empty = os.path.join(work, 'cwd')
    os.makedirs(empty)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ('PYTHONPATH', 'TF_USE_LEGACY_KERAS')}
    run([python, '-I', '-c', CHILD, request], cwd=empty, env=environment, timeout=600)
    with open(files['report']) as f:
        report = json.load(f)
    files['venv'] = os.path.dirname(os.path.dirname(python))
    return files, report


@pytest.fixture(scope='module')
def vertex_job(compiled):
    files, report = compiled
    assert report['runs']['vertex']['exit_code'] == 0, report['runs']['vertex']['stderr']
    with open(files['vertex']) as f:
        return json.load(f)


def compiled_file(compiled, name):
    files, report = compiled
    assert report['runs'][name]['exit_code'] == 0, report['runs'][name]['stderr']
    return load_compiled(files[name])


@pytest.fixture(scope='module')
def vertex_yaml(compiled):
    return compiled_file(compiled, 'vertex_yaml')


@pytest.fixture(scope='module')
def kfp_job(compiled):
    """The --target kfp file, a bare PipelineSpec, as {'pipelineSpec': ...}."""
    return compiled_file(compiled, 'kfp')


def tasks_of(job):
    return job['pipelineSpec']['root']['dag']['tasks']


def container(job, task):
    executors = job['pipelineSpec']['deploymentSpec']['executors']
    return executors[f'{task}_executor']['container']


def beam_args(args):
    """What follows the invocation placeholder (and the inputs spec of schema 2.1.0): the
    Beam pipeline arguments."""
    rest = args[args.index('{{$}}') + 1:]
    if rest[:1] == ['--json_serialized_inputs_spec_args']:
        rest = rest[2:]
    return rest


# The compiled pipeline.

def test_compiles_with_a_gs_root_offline(compiled, vertex_job):
    _, report = compiled
    assert report['network_attempts'] == []
    assert vertex_job['runtimeConfig']['gcsOutputDirectory'] == GS_ROOT
    assert vertex_job['pipelineSpec']['pipelineInfo']['name'] == configs.PIPELINE_NAME
    # The entry point itself sets it: the subprocess started without it.
    assert report['keras'] == '1'


def test_every_component_is_a_task(vertex_job):
    assert set(tasks_of(vertex_job)) == set(DEPENDENCIES)


def test_tasks_wait_for_their_inputs(vertex_job):
    tasks = tasks_of(vertex_job)
    assert {name: set(task.get('dependentTasks', [])) for name, task in tasks.items()} == \
        DEPENDENCIES
    blessing = tasks[MODEL_RESOLVER]['inputs']['artifacts']['input']['taskOutputArtifact']
    assert blessing['producerTask'] == BLESSING_RESOLVER
    baseline = tasks['Evaluator']['inputs']['artifacts']['baseline_model']['taskOutputArtifact']
    assert baseline == {'producerTask': MODEL_RESOLVER, 'outputArtifactKey': 'model'}


def test_every_component_runs_the_given_image(vertex_job):
    executors = vertex_job['pipelineSpec']['deploymentSpec']['executors']
    images = {label: executor['container']['image']
              for label, executor in executors.items() if 'container' in executor}
    components = set(DEPENDENCIES) - {MODEL_RESOLVER, BLESSING_RESOLVER}
    assert images == {f'{task}_executor': IMAGE for task in components}
    # The resolvers are queries the platform answers; they run no container.
    assert {label for label, executor in executors.items() if 'resolver' in executor} == \
        {f'{MODEL_RESOLVER}_executor', f'{BLESSING_RESOLVER}_executor'}


def test_code_is_named_by_dotted_path_not_uploaded(compiled, vertex_job, vertex_yaml):
    files, _ = compiled
    assert parameter(vertex_job, 'Trainer', 'run_fn') == 'models.ranking.trainer.run_fn'
    assert parameter(vertex_job, 'Transform', 'preprocessing_fn') == \
        'models.preprocessing.preprocessing_fn'
    for task in ('Trainer', 'Transform'):
        assert 'module_file' not in tasks_of(vertex_job)[task]['inputs']['parameters']
        assert 'module_path' not in tasks_of(vertex_job)[task]['inputs']['parameters']
    assert '.whl' not in json.dumps(vertex_job)
    # Compiling wrote nothing under a local pipeline root: no packaged module, no wheel.
    assert tasks_of(vertex_yaml).keys() == tasks_of(vertex_job).keys()
    assert not os.path.exists(files['local_root'])


def test_beam_args_reach_the_beam_components(vertex_job):
    expected = [*configs.BEAM_PIPELINE_ARGS, *DATAFLOW_ARGS, f'--sdk_container_image={IMAGE}']
    for task in BEAM_COMPONENTS:
        assert beam_args(container(vertex_job, task)['args']) == expected, task
    # ExampleGen's driver lists the input files before the executor runs, with Beam too.
    driver = container(vertex_job, 'MovieLensExampleGen')['lifecycle']['preCacheCheck']
    assert beam_args(driver['args']) == expected


def test_without_beam_args_components_keep_the_direct_runner_defaults(vertex_yaml, kfp_job):
    for job in (vertex_yaml, kfp_job):
        for task in BEAM_COMPONENTS:
            assert beam_args(container(job, task)['args']) == list(configs.BEAM_PIPELINE_ARGS)


def test_training_flags_reach_the_components(vertex_job):
    custom_config = json.loads(parameter(vertex_job, 'Trainer', 'custom_config'))
    expected = json.loads(json.dumps(dict(configs.NOTEBOOK_HYPERPARAMETERS, seed=7)))
    assert custom_config['hyperparameters'] == expected
    assert json.loads(parameter(vertex_job, 'Trainer', 'train_args')) == \
        {'splits': ['train'], 'num_steps': 11}
    settings = json.loads(parameter(vertex_job, 'MovieLensExampleGen', 'custom_config'))
    settings = settings['custom_config']['value']
    assert (settings['predefined_split'], settings['skip_bad_rows'], settings['source']) == \
        ('u1', True, 'grouplens')
    eval_config = json.loads(parameter(vertex_job, 'Evaluator', 'eval_config'))
    [rmse] = [metric for spec in eval_config['metrics_specs'] for metric in spec['metrics']
              if metric['class_name'] == 'RootMeanSquaredError']
    [threshold] = rmse['per_slice_thresholds']
    assert threshold['threshold']['value_threshold']['upper_bound'] == 0.95


def test_serving_dir_defaults_to_the_pipeline_root(vertex_job, kfp_job):
    destination = json.loads(parameter(vertex_job, 'Pusher', 'push_destination'))
    assert destination['filesystem']['base_directory'] == f'{GS_ROOT}/serving_model'
    given = json.loads(parameter(kfp_job, 'Pusher', 'push_destination'))
    assert given['filesystem']['base_directory'] == 'gs://bucket/models'
    # The kfp baseline reads where the Pusher writes.
    assert parameter(kfp_job, SERVED_BASELINE, 'serving_dir') == 'gs://bucket/models'


def test_schemas_are_read_from_the_image_not_the_compiling_machine(vertex_job):
    tasks = tasks_of(vertex_job)
    assert set(tasks['CuratedSchemaGen']['inputs']['parameters']) == {'fingerprint'}
    assert parameter(vertex_job, 'CuratedSchemaGen', 'fingerprint') == \
        curated_schema.schemas_fingerprint()
    assert REPO not in json.dumps(vertex_job)


def test_yaml_output_is_the_pipeline_spec_kfp_client_reads(compiled, vertex_job):
    files, _ = compiled
    # What kfp.Client().create_run_from_pipeline_package reads from a .yaml package.
    document = kfp_client._extract_pipeline_yaml(files['kfp'])
    assert set(document.pipeline_spec.root.dag.tasks) == set(KFP_DEPENDENCIES)
    assert document.pipeline_spec.schema_version == '2.1.0'
    # The KFP SDK's own loader reads it as a pipeline, as it reads one it compiled itself.
    loaded = kfp_components.load_component_from_file(files['kfp'])
    assert loaded.name == configs.PIPELINE_NAME
    assert set(loaded.pipeline_spec.root.dag.tasks) == set(KFP_DEPENDENCIES)
    with pytest.raises(json_format.ParseError):  # why .json is for Vertex AI only
        json_format.ParseDict(vertex_job, pipeline_spec_pb2.PipelineSpec())


# The open-source Kubeflow Pipelines target.

def executor_class(job, task):
    args = container(job, task)['args']
    return args[args.index('--executor_class_path') + 1]


def test_kfp_has_no_resolver_and_judges_against_the_served_model(kfp_job):
    tasks = tasks_of(kfp_job)
    assert {name: set(task.get('dependentTasks', [])) for name, task in tasks.items()} == \
        KFP_DEPENDENCIES
    executors = kfp_job['pipelineSpec']['deploymentSpec']['executors']
    assert {label: sorted(executor) for label, executor in executors.items()} == \
        {f'{task}_executor': ['container'] for task in KFP_DEPENDENCIES}
    baseline = tasks['Evaluator']['inputs']['artifacts']['baseline_model']['taskOutputArtifact']
    assert baseline == {'producerTask': SERVED_BASELINE, 'outputArtifactKey': 'model'}
    assert executor_class(kfp_job, SERVED_BASELINE) == \
        'components.served_baseline.LatestServedModel_Executor'
    assert executor_class(kfp_job, 'Evaluator') == \
        'components.served_baseline.ServedBaselineEvaluatorExecutor'


def test_kfp_task_names_are_argo_task_names(kfp_job, vertex_job):
    # argo-workflows' workflowFieldNameFmt and workflowFieldMaxLength: KFP's Argo compiler
    # names each DAG task after its pipeline task.
    argo_name = re.compile(r'[a-zA-Z0-9][-a-zA-Z0-9]*')
    assert [name for name in tasks_of(kfp_job)
            if not (argo_name.fullmatch(name) and len(name) <= 128)] == []
    # What kubeflow_runner.py checks before it writes a kfp file: Vertex AI's would fail.
    assert {name for name in tasks_of(vertex_job)
            if not kubeflow_runner.ARGO_TASK_NAME.fullmatch(name)} == \
        {MODEL_RESOLVER, BLESSING_RESOLVER}


def test_kfp_speaks_the_only_schema_kfp_2_0_to_2_5_accept(kfp_job, vertex_job):
    assert kfp_job['pipelineSpec']['schemaVersion'] == '2.1.0'
    assert vertex_job['pipelineSpec']['schemaVersion'] == '2.0.0'
    # Constants, the only parameters KFP's driver reads; no runtime parameter to submit.
    kinds = {kind for task in tasks_of(kfp_job).values()
             for value in task['inputs'].get('parameters', {}).values()
             for kind in value['runtimeValue']}
    assert kinds == {'constant'}
    assert 'inputDefinitions' not in kfp_job['pipelineSpec']['root']
    # TFX's entrypoint learns the parameters' types from the inputs spec, and ours the
    # input artifacts' types.
    for label, task_container in containers(kfp_job).items():
        if not label.endswith(':driver'):
            assert '--json_serialized_inputs_spec_args' in task_container['args'], label


def test_kfp_reruns_the_example_gen_and_the_baseline_every_time(kfp_job, vertex_job):
    def cached(job):
        return {name for name, task in tasks_of(job).items()
                if task.get('cachingOptions', {}).get('enableCache')}

    assert cached(kfp_job) == set(KFP_DEPENDENCIES) - {'MovieLensExampleGen', SERVED_BASELINE}
    # Vertex AI's ExampleGen driver fingerprints the data, which keys its cache.
    assert cached(vertex_job) == set(DEPENDENCIES) - {MODEL_RESOLVER, BLESSING_RESOLVER}


def test_an_identical_model_is_never_blessed_again(kfp_job, vertex_job):
    """TFMA passes a LOWER_IS_BETTER change of at most `absolute`: were it 0, a model no
    better than the baseline (the served one, retrained or cached) would be pushed again."""
    for job in (kfp_job, vertex_job):
        eval_config = json.loads(parameter(job, 'Evaluator', 'eval_config'))
        [rmse] = [metric for spec in eval_config['metrics_specs'] for metric in spec['metrics']
                  if metric['class_name'] == 'RootMeanSquaredError']
        [threshold] = rmse['per_slice_thresholds']
        change = threshold['threshold']['change_threshold']
        assert change['direction'] == 'LOWER_IS_BETTER'
        assert change['absolute'] == -configs.RMSE_MIN_IMPROVEMENT < 0


def image_path(source):
    """Where the Dockerfile copies a path of the build context in the image."""
    [workdir] = dockerfile_instructions('WORKDIR')
    for arguments in dockerfile_instructions('COPY'):
        *sources, destination = arguments.split()
        if source in sources and not arguments.startswith('--from'):
            destination = posixpath.join(workdir, destination)
            if destination.endswith('/') or posixpath.basename(destination) == '.':
                destination = posixpath.join(destination, posixpath.basename(source))
            return posixpath.normpath(destination)
    return None


def test_every_command_runs_a_module_of_the_image_in_its_workdir(compiled, vertex_job, kfp_job):
    files, report = compiled
    assert command_modules(kfp_job) == {kubeflow_runner.KFP_ENTRYPOINT_MODULE,
                                        TFX_EXAMPLE_GEN_DRIVER}
    assert command_modules(vertex_job) == {TFX_ENTRYPOINT, TFX_EXAMPLE_GEN_DRIVER}
    # `python -m components.kfp_entrypoint` in WORKDIR finds the copied file there...
    module_file = kubeflow_runner.KFP_ENTRYPOINT_MODULE.replace('.', '/') + '.py'
    package = module_file.split('/')[0]
    assert os.path.isfile(os.path.join(REPO, module_file))
    assert image_path(package) == posixpath.join(kubeflow_runner.IMAGE_PROJECT_DIR, package)
    # ... the build imports it from the installed package, as the wheel alone provides it...
    assert f'import {kubeflow_runner.KFP_ENTRYPOINT_MODULE};' in read('Dockerfile')
    installed = report['imports'][kubeflow_runner.KFP_ENTRYPOINT_MODULE]['file']
    assert installed.startswith(os.path.realpath(files['venv']) + os.sep)
    assert installed.endswith(os.sep + module_file)
    # ... and the harness runs the same command in the same directory of this checkout.
    harness_image = image.Image()
    assert harness_image.workdir == kubeflow_runner.IMAGE_PROJECT_DIR
    assert harness_image.cwd == REPO
    assert 'PYTHONPATH' not in harness_image.environment()


def test_only_tfx_own_baseline_strategy_compiles_for_kubeflow(tmp_path):
    """Why kubeflow_runner.py passes LatestBlessedModelStrategy: KubeflowV2DagRunner
    refuses the local default, the baseline that leaves out the candidate. When a TFX
    release compiles it, this fails, and both runners can share the default."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from tests.pipeline import wiring

    local_default = wiring.build(pipeline_root=GS_ROOT, serving_model_dir='gs://bucket/models')
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=IMAGE),
        output_dir=str(tmp_path), output_filename='pipeline.json')
    with pytest.raises(TypeError, match='LatestBlessedOtherModelStrategy'):
        runner.run(local_default)


def test_data_in_a_bucket_compiles_offline(compiled):
    files, report = compiled
    outcome = report['runs']['gs_data']
    assert outcome['exit_code'] == 0, outcome['stderr']
    with open(files['gs_data']) as f:
        job = json.load(f)
    assert parameter(job, 'MovieLensExampleGen', 'input_base').startswith('gs://bucket/')


# The wheel, and the image that installs it.

def test_wheel_holds_every_module_and_the_schemas(wheel):
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    sources = set()
    for package in PACKAGES:
        for folder, subfolders, names in os.walk(os.path.join(REPO, package)):
            subfolders[:] = [name for name in subfolders if name != '__pycache__']
            sources.update(os.path.relpath(os.path.join(folder, name), REPO)
                           for name in names if name.endswith('.py'))
    assert {name for name in in_wheel if name.endswith('.py')} == sources
    assert {'pipeline/__init__.py', 'components/movielens/__init__.py',
            'models/ranking/trainer.py'} <= sources
    schemas = {f'components/schemas/{name}' for name in curated_schema.SCHEMA_FILES.values()}
    assert schemas <= in_wheel


def test_the_wheel_alone_provides_every_dotted_path(compiled, vertex_job, kfp_job):
    files, report = compiled
    assert set(report['imports']) == dotted_paths(vertex_job) | dotted_paths(kfp_job) | \
        command_modules(vertex_job) | command_modules(kfp_job)
    failed = {path: outcome for path, outcome in report['imports'].items()
              if 'error' in outcome}
    assert failed == {}
    project = {path: outcome['file'] for path, outcome in report['imports'].items()
               if path.split('.')[0] in PACKAGES}
    assert set(project) == PROJECT_DOTTED_PATHS | {kubeflow_runner.KFP_ENTRYPOINT_MODULE}
    venv = os.path.realpath(files['venv'])
    for path, module_file in project.items():
        assert module_file.startswith(venv + os.sep), (path, module_file)
        assert not module_file.startswith(REPO + os.sep), (path, module_file)


def test_the_image_checks_every_dotted_path_at_build_time(vertex_job, kfp_job):
    checked = set()
    for statement in re.split(r'[;"]', ' '.join(dockerfile_instructions('RUN'))):
        words = statement.split()
        if words[:1] == ['from'] and words[2:3] == ['import']:
            checked.add(f'{words[1]}.{words[3]}')
        elif words[:1] == ['import']:
            checked.add(words[1])
    named = set().union(*(dotted_paths(job) | command_modules(job)
                          for job in (vertex_job, kfp_job)))
    project = {path for path in named if path.split('.')[0] in PACKAGES}
    assert project == PROJECT_DOTTED_PATHS | {kubeflow_runner.KFP_ENTRYPOINT_MODULE}
    assert project <= checked


def test_the_image_pins_the_locked_versions():
    pins = dict(re.findall(r'^ARG (\w+)=(\S+)$', read('Dockerfile'), re.MULTILINE))
    assert pins['TFX_VERSION'] == locked_version('tfx') == '1.16.0'
    assert pins['BEAM_VERSION'] == locked_version('apache-beam')
    assert dockerfile_instructions('FROM')[-1] == 'gcr.io/tfx-oss-public/tfx:${TFX_VERSION}'
    assert 'TF_USE_LEGACY_KERAS=1' in dockerfile_instructions('ENV')


def test_the_build_context_is_exactly_what_the_image_copies():
    patterns = [line for line in read('.dockerignore').splitlines()
                if line and not line.startswith('#')]
    assert patterns[0] == '*'
    admitted = {pattern[1:].rstrip('/') for pattern in patterns if pattern.startswith('!')}
    assert admitted == set(copied_sources())


# The command line.

def test_runners_share_the_training_flags_but_not_synthetic_data():
    local = {a.dest: a for a in local_runner_parser()._actions}
    ours = {a.dest: a for a in kubeflow_runner.build_parser()._actions}
    shared = ('source', 'tfds_name', 'seed', 'predefined_split', 'architecture',
              'train_steps', 'rmse_threshold', 'skip_bad_rows')
    for dest in shared:
        assert ours[dest].default == local[dest].default, dest
    # Synthetic data is written on the compiling machine, where no pod can read it.
    assert set(ours['source'].choices) == set(local['source'].choices) - {'synthetic'}


def local_runner_parser():
    """local_runner builds its parser inside parse_args; catch it as it parses."""
    parsers = []
    parse = argparse.ArgumentParser.parse_args

    def keep_parser(parser, *args, **kwargs):
        parsers.append(parser)
        return parse(parser, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, 'parse_args', keep_parser)
        local_runner.parse_args([])
    return parsers[0]


def test_required_flags_and_sources(capsys):
    for missing in ('--pipeline-root', '--image', '--data-dir'):
        argv = {'--pipeline-root': GS_ROOT, '--image': IMAGE, '--data-dir': 'gs://b/d'}
        del argv[missing]
        with pytest.raises(SystemExit) as exit:
            kubeflow_runner.parse_args([item for pair in argv.items() for item in pair])
        assert exit.value.code == 2
        assert missing in capsys.readouterr().err
    with pytest.raises(SystemExit):
        kubeflow_runner.parse_args(['--pipeline-root', GS_ROOT, '--image', IMAGE,
                                    '--data-dir', 'gs://b/d', '--source', 'synthetic'])
    args = kubeflow_runner.parse_args(['--pipeline-root', 'gs://b/root/', '--image', IMAGE,
                                       '--data-dir', 'gs://b/d'])
    assert args.serving_dir == 'gs://b/root/serving_model'
    assert (args.target, args.output) == ('vertex', 'pipeline.json')
    args = kubeflow_runner.parse_args(['--target', 'kfp', '--pipeline-root', GS_ROOT,
                                       '--image', IMAGE, '--data-dir', 'gs://b/d'])
    assert args.output == 'pipeline.yaml'


@pytest.mark.parametrize('given, message', [
    (['--output', 'pipeline.json'], '--output pipeline.json: kfp.Client submits a '
                                    'PipelineSpec in YAML'),
    (['--pipeline-root', '/mnt/root'], '--pipeline-root /mnt/root: open-source KFP needs a '
                                       'gs:// pipeline root'),
    (['--pipeline-root', 'minio://mlpipeline/v2/artifacts'], 'needs a gs:// pipeline root'),
])
def test_kfp_target_refuses_what_kfp_cannot_run(given, message, capsys):
    argv = dict(zip(['--pipeline-root', '--image', '--data-dir'], [GS_ROOT, IMAGE, 'gs://b/d']))
    argv.update(zip(given[::2], given[1::2]))
    with pytest.raises(SystemExit) as exit:
        kubeflow_runner.parse_args(['--target', 'kfp',
                                    *[item for pair in argv.items() for item in pair]])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize('given, added', [
    (['--runner=DataflowRunner'], [f'--sdk_container_image={IMAGE}']),
    (['--runner', 'dataflow'], [f'--sdk_container_image={IMAGE}']),
    (['--runner=DataflowRunner', '--sdk_container_image=other:2'], []),
    (['--runner=DataflowRunner', '--worker_harness_container_image=other:2'], []),
    (['--runner=DirectRunner'], []),
    ([], []),
])
def test_dataflow_workers_run_the_image_unless_told_otherwise(given, added):
    assert kubeflow_runner.beam_pipeline_args(given, IMAGE) == \
        [*configs.BEAM_PIPELINE_ARGS, *given, *added]
