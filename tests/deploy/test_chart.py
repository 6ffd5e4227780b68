"""The Helm chart, rendered by the real Helm engine (helm_python: Helm's Go SDK), linted, validated
object by object against the Kubernetes schemas (strict), and checked where it matters: probes,
configuration, secrets, security, selectors. No cluster, no network: each render takes ~0.1 s."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic.alias_generators import to_camel
from yamllint import linter  # type: ignore[import-untyped]
from yamllint.config import YamlLintConfig  # type: ignore[import-untyped]

from marketdata.config import Settings, load_config
from marketdata.config.exchanges import KrakenSettings
from marketdata.config.model import MarketData

if TYPE_CHECKING:
    from tests.deploy.conftest import HealthServer

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "crypton-marketdata"
CI_FILES = sorted((CHART / "ci").glob("*.yaml"))
KUBE_VERSION = "1.33"
KUBE_VERSIONS = ("1.25", KUBE_VERSION, "1.37")  # Chart.yaml's kubeVersion floor to the newest
CUSTOM_KINDS = {"ServiceMonitor"}  # CRDs: no schema in kubernetes_validate, checked below
CHART_OWNED = {
    "service": {"host", "port", "metricsHost", "metricsPort", "apiKeys"},
    "kafka": {"bootstrapServers", "replicationFactor", "local"},
    "exchange": {"apiKey", "secretKey", "apiKeyFile", "secretKeyFile"},
    "processors": {"dataDir"},
    "marketData": {"simulator"},
}
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    helm.disable_logging()
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def values_of(path: Path) -> Doc:
    loaded: Doc = yaml.safe_load(path.read_text("utf-8"))
    return loaded


def render(chart: helm.Chart, values: Doc, release: str = "md") -> list[Doc]:
    manifests = chart.render(values, name=release, namespace="markets")
    return [
        doc
        for path, text in sorted(manifests.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


@pytest.fixture(scope="module", params=CI_FILES, ids=[p.name for p in CI_FILES])
def case(request: pytest.FixtureRequest, chart: helm.Chart) -> tuple[Doc, list[Doc]]:
    values = values_of(request.param)
    return values, render(chart, values)


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def pod_specs(docs: list[Doc]) -> list[tuple[str, Doc]]:
    specs = [
        (d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in by_kind(docs, "Deployment")
    ]
    return specs + [(d["metadata"]["name"], d["spec"]) for d in by_kind(docs, "Pod")]


def config_text(docs: list[Doc]) -> str:
    (configmap,) = by_kind(docs, "ConfigMap")
    text: str = configmap["data"]["config.yaml"]
    return text


def load_for(container: Doc, docs: list[Doc], tmp_path: Path) -> Settings:
    """The configuration as this container's process loads it: the ConfigMap, its environment
    (secret references become placeholders) and our own loader and validation."""
    path = tmp_path / "config.yaml"
    path.write_text(config_text(docs), "utf-8")
    env = {}
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        env[var["name"]] = f"from-secret:{ref['key']}" if ref else var["value"]
    return load_config(path, env)


def test_chart_metadata_follows_the_application() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text("utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "crypton-marketdata"
    assert meta["appVersion"] == project["version"]


@pytest.mark.parametrize(
    "values_file", [None, *CI_FILES], ids=["chart-defaults", *[p.name for p in CI_FILES]]
)
def test_helm_lint_is_clean(values_file: Path | None) -> None:
    values = values_of(values_file) if values_file else None
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_values_files_pass_yamllint() -> None:
    config = YamlLintConfig(
        "extends: default\nrules: {line-length: {max: 100}, document-start: disable}"
    )
    files = [CHART / "values.yaml", CHART / "Chart.yaml", *CI_FILES]
    problems = [
        f"{path.name}:{p.line}: {p.message}"
        for path in files
        for p in linter.run(path.read_text("utf-8"), config, str(path))
    ]
    assert problems == []


def test_every_object_is_valid_for_kubernetes(case: tuple[Doc, list[Doc]]) -> None:
    values, docs = case
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    kinds = {d["kind"] for d in docs}
    assert {"ConfigMap", "Deployment", "Service"} <= kinds
    assert ("ServiceAccount" in kinds) == values.get("serviceAccount", {}).get("create", True)


def test_names_fit_dns_labels_and_are_unique_even_for_long_releases(chart: helm.Chart) -> None:
    values = values_of(CHART / "ci" / "full-values.yaml")
    docs = render(chart, values, release="a-very-long-release-name-for-market-data-prod-eu1")
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names))
    assert all(len(name) <= 63 and not name.endswith("-") for _, name in names)


def test_probes_point_at_the_health_endpoints_of_each_part(case: tuple[Doc, list[Doc]]) -> None:
    _, docs = case
    live, ready = "/health/live", "/health/ready"
    expected = {  # component: port name, number, startup, liveness and readiness paths
        "api": ("http", 5001, live, live, ready),
        "processor": ("metrics", 9000, live, live, ready),
        "producer": ("metrics", 9000, live, live, ready),
        "simulator": ("exchange", 8080, *["/_sim/state"] * 3),
    }
    for deployment in by_kind(docs, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        port, number, *paths = expected[component]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {port: number}
        probes = [container[f"{k}Probe"]["httpGet"] for k in ("startup", "liveness", "readiness")]
        assert probes == [{"path": path, "port": port} for path in paths]


def test_each_part_loads_the_configmap_and_listens_where_its_probes_look(
    case: tuple[Doc, list[Doc]], tmp_path: Path
) -> None:
    values, docs = case
    for name, spec in pod_specs(docs):
        if name.endswith("test-api-ready"):
            continue
        (container,) = spec["containers"]
        assert container["args"][:2] == ["--config", "/etc/marketdata/config.yaml"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts == {"/etc/marketdata": "config", "/tmp": "tmp"}
        settings = load_for(container, docs, tmp_path)
        assert settings.kafka.bootstrap_servers == values["kafka"]["bootstrapServers"]
        assert (settings.service.host, settings.service.port) == ("0.0.0.0", 5001)
        assert (settings.service.metrics_host, settings.service.metrics_port) == ("0.0.0.0", 9000)
        assert settings.processors.data_dir.is_relative_to("/tmp")  # the writable emptyDir
        if container["args"][2] == "producer":
            exchange = container["args"][4]
            assert exchange in settings.exchanges.enabled()


def test_simulator_is_off_by_default_and_feeds_kraken_when_on(
    chart: helm.Chart, tmp_path: Path
) -> None:
    off = render(chart, values_of(CHART / "ci" / "default-values.yaml"))
    assert not [d for d in off if "simulator" in d["metadata"]["name"]]
    path = tmp_path / "off.yaml"
    path.write_text(config_text(off), "utf-8")
    real = load_config(path, {}).exchanges.kraken
    assert real is not None
    assert real.ws_url == KrakenSettings().ws_url

    on = render(chart, values_of(CHART / "ci" / "full-values.yaml"))
    service = named(on, "Service", "md-crypton-marketdata-simulator")
    path.write_text(config_text(on), "utf-8")
    kraken = load_config(path, {"MARKETDATA_API_KEY": "k"}).exchanges.kraken
    assert kraken is not None
    assert kraken.ws_url == f"ws://{service['metadata']['name']}:8080/v2"
    assert kraken.rest_url == f"http://{service['metadata']['name']}:8080"


def test_secrets_are_referenced_never_inlined(chart: helm.Chart, tmp_path: Path) -> None:
    values = values_of(CHART / "ci" / "created-secret-values.yaml")
    docs = render(chart, values)
    keys = values["secrets"]["exchanges"]["kraken"]
    plain = [values["secrets"]["apiKey"], keys["apiKey"], keys["secretKey"]]
    (secret,) = by_kind(docs, "Secret")
    stored = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert stored == dict(
        zip(["api-key", "kraken-api-key", "kraken-secret-key"], plain, strict=True)
    )
    everything_else = yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"])
    assert not [p for p in plain if p in everything_else]

    producer = named(docs, "Deployment", "md-crypton-marketdata-producer-kraken")
    (container,) = producer["spec"]["template"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    name = secret["metadata"]["name"]
    assert refs == {
        "KRAKEN_API_KEY": {"name": name, "key": "kraken-api-key", "optional": True},
        "KRAKEN_SECRET": {"name": name, "key": "kraken-secret-key", "optional": True},
        # authentication is on: every part validates the file naming ${MARKETDATA_API_KEY}
        "MARKETDATA_API_KEY": {"name": name, "key": "api-key"},
    }
    kraken = load_for(container, docs, tmp_path).exchanges.kraken
    assert kraken is not None
    assert kraken.private_enabled
    assert kraken.api_key is not None
    assert kraken.api_key.get_secret_value() == "from-secret:kraken-api-key"


def test_an_existing_secret_is_used_as_is(chart: helm.Chart) -> None:
    values = values_of(CHART / "ci" / "full-values.yaml")
    existing = values["secrets"]["existingSecret"]
    docs = render(chart, values)
    assert by_kind(docs, "Secret") == []
    for deployment in by_kind(docs, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
        }
        assert refs["MARKETDATA_API_KEY"] == {"name": existing, "key": "api-key"}
        if container["name"] == "producer":
            key = {"name": existing, "key": "kraken-api-key", "optional": True}
            assert refs["KRAKEN_API_KEY"] == key
        else:
            assert set(refs) == {"MARKETDATA_API_KEY"}  # exchange keys reach the producer only


def test_pods_run_unprivileged_on_a_read_only_root(case: tuple[Doc, list[Doc]]) -> None:
    _, docs = case
    for name, spec in pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert "resources" in container, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if "tmp" in volumes:
            assert "emptyDir" in volumes["tmp"]


def test_labels_and_selectors_tie_the_objects_together(case: tuple[Doc, list[Doc]]) -> None:
    _, docs = case
    standard = {f"app.kubernetes.io/{k}" for k in ("name", "instance", "version", "component")}
    standard |= {"app.kubernetes.io/managed-by", "helm.sh/chart"}
    for doc in docs:
        assert standard <= set(doc["metadata"]["labels"]), doc["metadata"]["name"]
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in by_kind(docs, "Deployment")
    }

    def selected(selector: dict[str, str]) -> list[str]:
        return [name for name, labels in pods.items() if selector.items() <= labels.items()]

    for deployment in by_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        assert selected(deployment["spec"]["selector"]["matchLabels"]) == [name]
    for service in by_kind(docs, "Service"):
        (target,) = selected(service["spec"]["selector"])
        (container,) = named(docs, "Deployment", target)["spec"]["template"]["spec"]["containers"]
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= {
            p["name"] for p in container["ports"]
        }
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        assert selected(pdb["spec"]["selector"]["matchLabels"]) == [pdb["metadata"]["name"]]
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        scaled = named(docs, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert "replicas" not in scaled["spec"]  # the HPA owns the count
        assert scaled["metadata"]["labels"]["app.kubernetes.io/component"] in {"api", "processor"}
    for ingress in by_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = named(docs, "Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_service_monitor_scrapes_every_part(case: tuple[Doc, list[Doc]]) -> None:
    values, docs = case
    monitors = by_kind(docs, "ServiceMonitor")
    if not values.get("metrics", {}).get("serviceMonitor", {}).get("enabled"):
        assert monitors == []
        return
    (monitor,) = monitors
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = {
        (s["metadata"]["labels"]["app.kubernetes.io/component"], port["name"])
        for s in by_kind(docs, "Service")
        if selector.items() <= s["metadata"]["labels"].items()
        for port in s["spec"]["ports"]
        if port["name"] in {e["port"] for e in monitor["spec"]["endpoints"]}
    }
    assert scraped == {("api", "http"), ("processor", "metrics"), ("producer", "metrics")}
    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}
    for key, value in values["metrics"]["serviceMonitor"]["additionalLabels"].items():
        assert monitor["metadata"]["labels"][key] == value


def test_helm_test_hook_polls_the_api_readiness(
    chart: helm.Chart, health_server: HealthServer
) -> None:
    docs = render(chart, values_of(CHART / "ci" / "default-values.yaml"))
    (pod,) = by_kind(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    python, flag, script, url, timeout = container["command"]
    api = named(docs, "Service", "md-crypton-marketdata-api")
    assert url == f"http://{api['metadata']['name']}:{api['spec']['ports'][0]['port']}/health/ready"

    # The hook's own script, against a loopback stand-in for the API.
    local = f"{health_server.base_url}/health/ready"
    ok = subprocess.run(
        [sys.executable, flag, script, local, "5"], check=False, capture_output=True, timeout=30
    )
    assert ok.returncode == 0, ok.stderr
    health_server.status = 503
    failing = subprocess.run(
        [sys.executable, flag, script, local, "0"], check=False, capture_output=True, timeout=30
    )
    assert failing.returncode == 1
    assert b"is not ready" in failing.stderr
    assert (python, timeout) == ("python", "120")


def test_the_schema_rejects_bad_values_with_the_path(chart: helm.Chart) -> None:
    cases: dict[str, Doc] = {
        "/config/service": {"config": {"service": {"apiKeys": ["inline-secret"]}}},
        "/config/exchanges/kraken": {"config": {"exchanges": {"kraken": {"apiKey": "inline"}}}},
        "/kafka/replicationFactor": {"kafka": {"replicationFactor": 0}},
        "/config/exchanges/binance/enabled": {
            "config": {"exchanges": {"binance": {"enabled": True}}}
        },
        "/config/processors/appId": {"config": {"processors": {"appId": "unversioned"}}},
        "at ''": {"replicas": 3},
    }
    for where, bad in cases.items():
        with pytest.raises(helm.HelmValuesError, match=where):
            chart.validate_schema(bad)
    chart.validate_schema(values_of(CHART / "ci" / "full-values.yaml"))


def test_rendering_without_kafka_or_with_auth_but_no_key_fails_clearly(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"kafka\.bootstrapServers is required"):
        chart.render({}, name="md")
    auth = {
        "kafka": {"bootstrapServers": "k:9092"},
        "config": {"signalr": {"enableAuthentication": True}},
    }
    with pytest.raises(helm.HelmRenderError, match=r"give the API key in secrets\.apiKey"):
        chart.render(auth, name="md")


def test_image_tag_defaults_to_app_version_and_a_digest_wins(chart: helm.Chart) -> None:
    base = {"kafka": {"bootstrapServers": "k:9092"}}

    def image(values: Doc) -> str:
        api = named(render(chart, values), "Deployment", "md-crypton-marketdata-api")
        image_ref: str = api["spec"]["template"]["spec"]["containers"][0]["image"]
        return image_ref

    assert image(base) == f"crypton-marketdata:{chart.metadata['appVersion']}"
    digest = "sha256:" + "ab" * 32
    pinned = {**base, "image": {"registry": "ghcr.io", "repository": "c/md", "digest": digest}}
    assert image(pinned) == f"ghcr.io/c/md@{digest}"


def test_schema_config_keys_track_the_application_model() -> None:
    """A config field added to the application must be added to the chart's schema (or declared
    chart-owned) in the same change; this fails until it is."""
    schema = json.loads((CHART / "values.schema.json").read_text("utf-8"))
    config = schema["properties"]["config"]["properties"]

    def fields(model: Any) -> set[str]:
        return {to_camel(name) for name in model.model_fields}

    models = {to_camel(name): f.annotation for name, f in MarketData.model_fields.items()}
    for section in set(config) - {"exchanges"}:
        owned = CHART_OWNED.get(section, set())
        assert set(config[section]["properties"]) == fields(models[section]) - owned, section
    exchange = schema["$defs"]["exchange"]["properties"]
    assert set(exchange) == fields(KrakenSettings) - CHART_OWNED["exchange"]
    assert set(config) == fields(MarketData) - CHART_OWNED["marketData"]
