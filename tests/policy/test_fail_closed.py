"""Built to slip past the pack: every resource below is unsafe by one shape, name, wrapper or
value, and goes through the real analyzer protocol (a pack subprocess over gRPC) with
prod's policy config. Each bad one must get a mandatory violation that names the resource,
the field and the fix; each good one must get no violation at all.

The cases are classes, not examples: wrappers (patches, pod templates, old API versions,
custom resources, loose containers), every PSS restricted field as Pod Security Admission
reads it plus the hardened layer (group 0, Vault agent), waiver evasion, Docker host
access, address-range coverage and protection.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.cluster import nvidia_device_plugin
from stacks.policy_check import PolicyPackProcess, Violation, load_config

from . import fixtures as fx
from .harness import secret, urn_for

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
DOCKER = "docker:index/container:Container"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EKS = "aws:eks/cluster:Cluster"
PLUGIN = "sutazai-prod-cluster-nvidia-device-plugin"  # the name prod.json waives


@dataclass(frozen=True)
class Case:
    id: str
    type: str
    inputs: dict[str, Any]
    field: str = ""  # must appear in a mandatory message (bad cases)
    name: str = ""
    protect: bool = False

    @property
    def resource_name(self) -> str:
        return self.name or f"case-{self.id}"

    def resource(self) -> dict[str, Any]:
        return {
            # the parent keeps URNs unique when cases share a (waived) logical name
            "urn": urn_for(self.type, self.resource_name, parent_type=f"sutazai:case:{self.id}"),
            "type": self.type,
            "name": self.resource_name,
            "inputs": self.inputs,
            "protect": self.protect,
            "parent": "",
            "provider": "",
        }


# ---------------------------------------------------------------- builders


def pod(**changes: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    spec = fx.hardened_pod_spec()
    for change in changes.values():
        change(spec)
    return spec


Change = Callable[[dict[str, Any]], object]  # mutates a pod spec in place


def deployment(change: Change, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec = fx.hardened_pod_spec()
    change(spec)
    body = fx.workload(DEPLOYMENT, spec)
    if annotations:
        body["spec"]["template"]["metadata"]["annotations"] = annotations
    return body


def root_pod() -> dict[str, Any]:
    spec = fx.hardened_pod_spec()
    spec["containers"][0]["securityContext"]["runAsUser"] = 0
    return spec


def template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": spec}


def container_sc(**values: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        spec["containers"][0]["securityContext"].update(values)

    return apply


def pod_sc(**values: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        spec["securityContext"].update(values)

    return apply


def pod_field(**values: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        spec.update(values)

    return apply


def add_volume(volume: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        spec["volumes"].append(volume)

    return apply


def delete_container_field(field: str) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        for c in spec["containers"] + spec["initContainers"]:
            c["securityContext"].pop(field, None)

    return apply


def loose_container(**security: Any) -> dict[str, Any]:
    c = fx.hardened_container("step")
    c["securityContext"].update(security)
    return c


def docker(**changes: Any) -> dict[str, Any]:
    body = fx.docker_container()
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def device_plugin() -> dict[str, Any]:
    return copy.deepcopy(nvidia_device_plugin())


def plugin_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = device_plugin()
    change(body["spec"]["template"]["spec"])
    return body


def sg_rule(**values: Any) -> dict[str, Any]:
    return {**fx.sg_ingress_rule(), **values}


def eks(**vpc: Any) -> dict[str, Any]:
    body = fx.eks_cluster()
    body["vpcConfig"].update(vpc)
    return body


# ---------------------------------------------------------------- bad resources


def wrapper_cases() -> Iterator[Case]:
    """A root container inside every wrapper that carries a pod."""
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        yield Case(
            f"{kind}Patch",
            f"kubernetes:apps/v1:{kind}Patch",
            {"spec": {"template": template(root_pod())}},
            "runAsUser is 0",
        )
    yield Case(
        "JobPatch",
        "kubernetes:batch/v1:JobPatch",
        {"spec": {"template": template(root_pod())}},
        "runAsUser is 0",
    )
    yield Case(
        "CronJobPatch",
        "kubernetes:batch/v1:CronJobPatch",
        {"spec": {"jobTemplate": {"spec": {"template": template(root_pod())}}}},
        "runAsUser is 0",
    )
    yield Case("PodPatch", "kubernetes:core/v1:PodPatch", {"spec": root_pod()}, "runAsUser is 0")
    yield Case(
        "PodTemplate",
        "kubernetes:core/v1:PodTemplate",
        {"template": template(root_pod())},
        "template.spec.containers[0]",
    )
    for type_ in (
        "kubernetes:apps/v1beta1:Deployment",
        "kubernetes:apps/v1beta2:DaemonSet",
        "kubernetes:extensions/v1beta1:Deployment",
    ):
        yield Case(
            type_.split(":")[1].replace("/", "-") + "-" + type_.rsplit(":", 1)[1],
            type_,
            {"spec": {"template": template(root_pod())}},
            "runAsUser is 0",
        )
    yield Case(
        "batch-v1beta1-CronJob",
        "kubernetes:batch/v1beta1:CronJob",
        {"spec": {"jobTemplate": {"spec": {"template": template(root_pod())}}}},
        "runAsUser is 0",
    )
    yield Case(
        "argo-rollout",
        "kubernetes:argoproj.io/v1alpha1:Rollout",
        {"spec": {"template": template(root_pod())}},
        "runAsUser is 0",
    )
    yield Case(
        "keda-scaledjob",
        "kubernetes:keda.sh/v1alpha1:ScaledJob",
        {"spec": {"jobTargetRef": {"template": template(root_pod())}}},
        "jobTargetRef.template.spec",
    )
    yield Case(
        "knative-service",
        "kubernetes:serving.knative.dev/v1:Service",
        {"spec": {"template": template(root_pod())}},
        "runAsUser is 0",
    )
    yield Case(
        "argo-workflow-container",
        "kubernetes:argoproj.io/v1alpha1:Workflow",
        {"spec": {"templates": [{"name": "main", "container": loose_container(runAsUser=0)}]}},
        "spec.templates[0].container",
    )
    yield Case(
        "tekton-step-without-pod-defaults",
        "kubernetes:tekton.dev/v1:Task",
        {"spec": {"steps": [{"name": "build", "image": fx.IMAGE, "script": "make"}]}},
        "spec.steps[0]",
    )
    yield Case(
        "unknown-crd-without-pods",
        "kubernetes:example.com/v1:Widget",
        {"spec": {"size": 3}},
        "kinds known to create no pods",
    )
    yield Case(
        "flux-helmrelease",
        "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease",
        {"spec": {"chart": {"spec": {"chart": "anything"}}}},
        "kindsWithoutPods",
    )
    yield Case(
        "helm-v3-release",
        "kubernetes:helm.sh/v3:Release",
        {"chart": "aws-load-balancer-controller", "version": "1.14.0"},
        "out of the pack's sight",
    )
    yield Case(
        "kubectl-apply-command",
        "command:local:Command",
        {"create": "kubectl apply -f privileged.yaml"},
        "render the objects in the program",
    )
    yield Case(
        "deployment-without-template",
        DEPLOYMENT,
        {"metadata": {"name": "x"}, "spec": {"replicas": 1}},
        "no pod spec",
    )


def pss_cases() -> Iterator[Case]:
    """One restricted-profile (or hardened-layer) violation each, on a Deployment."""
    restricted: list[tuple[str, Change, str]] = [
        (
            "pod-runAsNonRoot-false-overridden",
            pod_sc(runAsNonRoot=False),
            "securityContext.runAsNonRoot is false",
        ),
        ("pod-runAsUser-0-overridden", pod_sc(runAsUser=0), "securityContext.runAsUser is 0"),
        ("container-runAsUser-0", container_sc(runAsUser=0), "runAsUser is 0"),
        ("runAsUser-string", container_sc(runAsUser="0"), "not a numeric uid"),
        ("runAsUser-negative", container_sc(runAsUser=-1), "not a numeric uid"),
        (
            "runAsNonRoot-unset-everywhere",
            lambda s: (
                delete_container_field("runAsNonRoot")(s),
                s["securityContext"].pop("runAsNonRoot"),
            ),
            "runAsNonRoot is unset",
        ),
        ("privileged", container_sc(privileged=True), "privileged is True"),
        (
            "allowPrivilegeEscalation-true",
            container_sc(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (
            "allowPrivilegeEscalation-unset",
            delete_container_field("allowPrivilegeEscalation"),
            "allowPrivilegeEscalation is unset",
        ),
        (
            "cap-add-sys-admin",
            container_sc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
            "capabilities.add",
        ),
        (
            "cap-add-prefixed",
            container_sc(capabilities={"drop": ["ALL"], "add": ["CAP_NET_RAW"]}),
            "capabilities.add",
        ),
        (
            "cap-drop-lowercase-all",
            container_sc(capabilities={"drop": ["all"]}),
            "capabilities.drop",
        ),
        ("cap-drop-missing", container_sc(capabilities={}), "capabilities.drop"),
        ("hostNetwork", pod_field(hostNetwork=True), "hostNetwork"),
        ("hostPID", pod_field(hostPID=True), "hostPID"),
        ("hostIPC", pod_field(hostIPC=True), "hostIPC"),
        ("hostPath-root", add_volume({"name": "root", "hostPath": {"path": "/"}}), "hostPath"),
        (
            "hostPath-docker-socket",
            add_volume({"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}),
            "hostPath",
        ),
        (
            "volume-nfs",
            add_volume({"name": "n", "nfs": {"server": "10.0.0.9", "path": "/"}}),
            "'nfs'",
        ),
        (
            "volume-gitRepo",
            add_volume({"name": "g", "gitRepo": {"repository": "https://x"}}),
            "'gitRepo'",
        ),
        (
            "hostPort",
            lambda s: s["containers"][0]["ports"][0].update(hostPort=80),
            "hostPort",
        ),
        (
            "hostPort-init",
            lambda s: s["initContainers"][0]["ports"][0].update(hostPort=8080),
            "initContainers[0]",
        ),
        (
            "seccomp-pod-unconfined-overridden",
            lambda s: (
                pod_sc(seccompProfile={"type": "Unconfined"})(s),
                container_sc(seccompProfile={"type": "RuntimeDefault"})(s),
            ),
            "seccompProfile.type is Unconfined",
        ),
        (
            "seccomp-container-unconfined",
            container_sc(seccompProfile={"type": "Unconfined"}),
            "seccompProfile.type is 'Unconfined'",
        ),
        (
            "seccomp-unset",
            lambda s: s["securityContext"].pop("seccompProfile"),
            "seccompProfile.type is unset",
        ),
        ("procMount-unmasked", container_sc(procMount="Unmasked"), "procMount"),
        (
            "sysctl-unsafe",
            pod_sc(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
            "sysctls[0]",
        ),
        (
            "sysctl-ip-forward",
            pod_sc(sysctls=[{"name": "net.ipv4.ip_forward", "value": "1"}]),
            "not a PSS safe sysctl",
        ),
        ("selinux-spc", pod_sc(seLinuxOptions={"type": "spc_t"}), "seLinuxOptions.type"),
        (
            "selinux-container-user",
            container_sc(seLinuxOptions={"user": "system_u"}),
            "seLinuxOptions.user",
        ),
        (
            "apparmor-pod-unconfined",
            pod_sc(appArmorProfile={"type": "Unconfined"}),
            "appArmorProfile.type",
        ),
        (
            "apparmor-container-unconfined",
            container_sc(appArmorProfile={"type": "Unconfined"}),
            "appArmorProfile.type",
        ),
        (
            "windows-hostprocess-pod",
            pod_sc(windowsOptions={"hostProcess": True}),
            "windowsOptions.hostProcess",
        ),
        (
            "windows-hostprocess-container",
            container_sc(windowsOptions={"hostProcess": True}),
            "windowsOptions.hostProcess",
        ),
        ("runAsGroup-0-pod", pod_sc(runAsGroup=0), "runAsGroup is 0"),
        ("runAsGroup-0-container", container_sc(runAsGroup=0), "runAsGroup is 0"),
        ("fsGroup-0", pod_sc(fsGroup=0), "fsGroup is 0"),
        ("supplementalGroups-0", pod_sc(supplementalGroups=[10001, 0]), "supplementalGroups"),
        (
            "readOnlyRootFilesystem-false",
            container_sc(readOnlyRootFilesystem=False),
            "readOnlyRootFilesystem",
        ),
        (
            "ephemeral-root",
            lambda s: s.update(
                ephemeralContainers=[
                    {"name": "debug", "image": fx.IMAGE, "securityContext": {"runAsUser": 0}}
                ]
            ),
            "ephemeralContainers[0]",
        ),
        (
            "init-privileged",
            lambda s: s["initContainers"][0]["securityContext"].update(privileged=True),
            "initContainers[0]",
        ),
        (
            "literal-secret-env",
            lambda s: s["containers"][0]["env"].append({"name": "DB_PASSWORD", "value": "hunter2"}),
            "DB_PASSWORD",
        ),
        (
            "image-latest",
            lambda s: s["containers"][0].update(image="redis:latest"),
            ":latest",
        ),
        (
            "no-limits",
            lambda s: s["containers"][0]["resources"].pop("limits"),
            "limits.cpu",
        ),
    ]
    for case_id, change, field in restricted:
        yield Case(case_id, DEPLOYMENT, deployment(change), field)
    annotations: list[tuple[str, dict[str, str], str]] = [
        (
            "apparmor-annotation-unconfined",
            {"container.apparmor.security.beta.kubernetes.io/api": "unconfined"},
            "apparmor",
        ),
        (
            "seccomp-annotation-unconfined",
            {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"},
            "seccomp",
        ),
        ("vault-agent-uid-0", {"vault.hashicorp.com/agent-run-as-user": "0"}, "agent-run-as-user"),
        (
            "vault-agent-uid-root",
            {"vault.hashicorp.com/agent-run-as-user": "root"},
            "agent-run-as-user",
        ),
        (
            "vault-agent-gid-0",
            {"vault.hashicorp.com/agent-run-as-group": "0"},
            "agent-run-as-group",
        ),
        (
            "vault-agent-no-security-context",
            {"vault.hashicorp.com/agent-set-security-context": "false"},
            "agent-set-security-context",
        ),
        (
            "vault-agent-same-user",
            {"vault.hashicorp.com/agent-run-as-same-user": "true"},
            "agent-run-as-same-user",
        ),
        (
            "self-declared-exemption-annotation",
            {"sutazai.io/policy-waiver": "workload-non-root-read-only"},
            "runAsUser is 0",
        ),
    ]
    for case_id, notes, field in annotations:
        change = container_sc(runAsUser=0) if case_id.startswith("self-") else (lambda s: None)
        yield Case(case_id, DEPLOYMENT, deployment(change, notes), field)


def waiver_evasion_cases() -> Iterator[Case]:
    host_path = {"name": "dp", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}
    spec = fx.hardened_pod_spec()
    spec["volumes"].append(host_path)
    yield Case(
        "waived-name-other-type",
        DEPLOYMENT,
        fx.workload(DEPLOYMENT, spec),
        "hostPath",
        name=PLUGIN,
    )
    yield Case(
        "waived-plugin-mounts-root-too",
        DAEMONSET,
        plugin_with(add_volume({"name": "root", "hostPath": {"path": "/"}})),
        "'/'",
        name=PLUGIN,
    )
    yield Case(
        "waived-plugin-privileged",
        DAEMONSET,
        plugin_with(container_sc(privileged=True)),
        "privileged",
        name=PLUGIN,
    )
    yield Case(
        "waived-plugin-host-network",
        DAEMONSET,
        plugin_with(pod_field(hostNetwork=True)),
        "hostNetwork",
        name=PLUGIN,
    )
    yield Case(
        "waived-plugin-adds-capability",
        DAEMONSET,
        plugin_with(container_sc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})),
        "capabilities.add",
        name=PLUGIN,
    )
    yield Case(
        "waived-plugin-fsgroup-0",
        DAEMONSET,
        plugin_with(pod_sc(fsGroup=0)),
        "fsGroup is 0",
        name=PLUGIN,
    )
    yield Case(
        "look-alike-name",
        DAEMONSET,
        device_plugin(),
        "runAsUser is 0",
        name=f"{PLUGIN}-2",
    )
    yield Case(
        "look-alike-prefix",
        DAEMONSET,
        device_plugin(),
        "hostPath",
        name=f"evil-{PLUGIN}",
    )
    yield Case(
        "waived-sg-rule-other-port",
        SG_INGRESS,
        sg_rule(fromPort=22, toPort=22),
        "tcp/22",
        name="sutazai-prod-network-alb-http-redirect-in",
    )


def docker_cases() -> Iterator[Case]:
    host: list[tuple[str, dict[str, Any], str]] = [
        (
            "docker-socket",
            docker(
                mounts=[{"type": "bind", "source": "/var/run/docker.sock", "target": "/s.sock"}]
            ),
            "socket",
        ),
        (
            "bind-etc",
            docker(volumes=[{"hostPath": "/etc", "containerPath": "/host-etc"}]),
            "volumes[0].hostPath",
        ),
        (
            "mount-without-type",
            docker(mounts=[{"source": "/", "target": "/host"}]),
            "mounts[0].source",
        ),
        (
            "bind-uppercase-type",
            docker(mounts=[{"type": "BIND", "source": "/root", "target": "/r"}]),
            "mounts[0].source",
        ),
        ("device", docker(devices=[{"hostPath": "/dev/sda"}]), "devices[0]"),
        ("pid-host", docker(pidMode="host"), "pidMode"),
        ("ipc-host", docker(ipcMode="host"), "ipcMode"),
        ("network-host", docker(networkMode="HOST"), "networkMode"),
        ("userns-host", docker(usernsMode="host"), "usernsMode"),
        ("cgroupns-host", docker(cgroupnsMode="host"), "cgroupnsMode"),
        ("uts-host", docker(utsMode="host"), "utsMode"),
        (
            "seccomp-unconfined",
            docker(securityOpts=["no-new-privileges:true", "seccomp=unconfined"]),
            "seccomp",
        ),
        (
            "apparmor-unconfined",
            docker(securityOpts=["no-new-privileges:true", "apparmor:unconfined"]),
            "apparmor",
        ),
        (
            "label-disable",
            docker(securityOpts=["no-new-privileges:true", "label=disable"]),
            "label",
        ),
        (
            "no-new-privileges-missing",
            docker(securityOpts=[]),
            "no-new-privileges",
        ),
        (
            "cap-add",
            docker(capabilities={"drops": ["ALL"], "adds": ["SYS_PTRACE"]}),
            "capabilities.adds",
        ),
        ("sysctl", docker(sysctls={"net.ipv4.ip_forward": "1"}), "sysctls"),
        ("port-all-interfaces", docker(ports=[{"internal": 8080, "external": 80}]), "ports[0]"),
        (
            "port-0000",
            docker(ports=[{"internal": 8080, "external": 80, "ip": "0.0.0.0"}]),
            "ports[0]",
        ),
        ("port-ipv6-any", docker(ports=[{"internal": 80, "external": 80, "ip": "::"}]), "'::'"),
        (
            "port-lan",
            docker(ports=[{"internal": 80, "external": 80, "ip": "192.168.1.5"}]),
            "192.168.1.5",
        ),
        ("user-nobody", docker(user="nobody"), "user"),
        ("user-uid-only", docker(user="1000"), "user"),
        ("user-gid-0", docker(user="1000:0"), "user"),
        ("user-root", docker(user="0:0"), "user"),
        ("user-unset", docker(user=None), "user is not set"),
        ("privileged", docker(privileged=True), "privileged"),
        ("writable-root", docker(readOnly=False), "readOnly"),
        ("group-add-root", docker(groupAdds=["0"]), "groupAdds"),
        (
            "literal-secret",
            docker(envs=["OPENAI_API_KEY=sk-live"]),
            "OPENAI_API_KEY",
        ),
    ]
    for case_id, body, field in host:
        yield Case(f"docker-{case_id}", DOCKER, body, field)


def address_cases() -> Iterator[Case]:
    yield Case("ssh-world", SG_INGRESS, sg_rule(fromPort=22, toPort=22), "tcp/22")
    yield Case(
        "split-halves",
        SG,
        {
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 5432,
                    "toPort": 5432,
                    "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"],
                }
            ]
        },
        "ingress[0]",
    )
    yield Case(
        "ipv6-world",
        SG_INGRESS,
        {**sg_rule(fromPort=5432, toPort=5432, cidrIpv6="::/0"), "cidrIpv4": None},
        "tcp/5432",
    )
    yield Case(
        "quarters",
        SG_RULE,
        {
            **fx.security_group_rule(),
            "fromPort": 6379,
            "toPort": 6379,
            "cidrBlocks": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"],
        },
        "tcp/6379",
    )
    yield Case(
        "slash-8-all-protocols",
        SG_INGRESS,
        sg_rule(ipProtocol="-1", fromPort=0, toPort=0, cidrIpv4="1.0.0.0/8"),
        "opens all",
    )
    yield Case(
        "padded-cidr", SG_INGRESS, sg_rule(fromPort=22, toPort=22, cidrIpv4=" 0.0.0.0/0 "), "tcp/22"
    )
    yield Case(
        "host-bits-cidr",
        SG_INGRESS,
        sg_rule(fromPort=3306, toPort=3306, cidrIpv4="10.1.2.3/0"),
        "tcp/3306",
    )
    yield Case("udp-443", SG_INGRESS, sg_rule(ipProtocol="udp"), "udp/443")
    yield Case(
        "tcp-all-ports",
        SG_INGRESS,
        sg_rule(fromPort=0, toPort=65535),
        "tcp/0-65535",
    )
    yield Case(
        "uppercase-ingress-type",
        SG_RULE,
        {**fx.security_group_rule(), "type": "INGRESS", "fromPort": 22, "toPort": 22},
        "tcp/22",
    )
    yield Case(
        "invalid-cidr",
        SG_INGRESS,
        sg_rule(fromPort=22, toPort=22, cidrIpv4="0.0.0.0/33"),
        "not a CIDR",
    )
    yield Case(
        "prefix-list-on-ssh",
        SG_INGRESS,
        {**sg_rule(fromPort=22, toPort=22, prefixListId="pl-0123"), "cidrIpv4": None},
        "prefix list",
    )
    yield Case(
        "eks-split-halves",
        EKS,
        eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/1", "128.0.0.0/1"]),
        "publicAccessCidrs",
        protect=True,
    )
    yield Case(
        "eks-public-default",
        EKS,
        eks(endpointPublicAccess=True),
        "publicAccessCidrs is empty",
        protect=True,
    )
    yield Case(
        "eks-many-small-ranges",
        EKS,
        eks(endpointPublicAccess=True, publicAccessCidrs=[f"{i}.0.0.0/16" for i in range(1, 40)]),
        "global IPv4",
        protect=True,
    )


INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"


WEB_ACL = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/sutazai/0000-1111"
POOL = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc"
EDGE = {  # what the edge policies require of every public Ingress
    "wafv2-acl-arn": WEB_ACL,
    "auth-type": "cognito",
    "auth-idp-cognito": json.dumps(
        {"userPoolARN": POOL, "userPoolClientID": "abc123", "userPoolDomain": "d"}
    ),
}


def ingress(**notes: str) -> dict[str, Any]:
    annotations = {"alb.ingress.kubernetes.io/scheme": "internet-facing"}
    annotations.update({f"alb.ingress.kubernetes.io/{k}": v for k, v in EDGE.items()})
    annotations.update(
        {f"alb.ingress.kubernetes.io/{k.replace('_', '-')}": v for k, v in notes.items()}
    )
    return {
        "metadata": {"name": "web", "namespace": "sutazai-core", "annotations": annotations},
        "spec": {"ingressClassName": "alb", "rules": []},
    }


def lb_service(ports: list[int], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "edge", "namespace": "sutazai-core"},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": p, "protocol": "TCP"} for p in ports],
            **spec,
        },
    }


def load_balancer_cases() -> Iterator[Case]:
    yield Case(
        "alb-http-8080",
        INGRESS,
        ingress(listen_ports='[{"HTTP": 8080}]'),
        "HTTP/8080",
    )
    yield Case(
        "alb-http-without-redirect",
        INGRESS,
        ingress(
            listen_ports='[{"HTTP": 80}, {"HTTPS": 443}]', inbound_cidrs="0.0.0.0/1,128.0.0.0/1"
        ),
        "HTTP/80",
    )
    yield Case("alb-default-http-listener", INGRESS, ingress(), "HTTP/80")
    yield Case("nlb-port-80-default-sources", SERVICE, lb_service([80]), "spec.ports[0]")
    yield Case(
        "nlb-redis-split-sources",
        SERVICE,
        lb_service([6379], loadBalancerSourceRanges=["0.0.0.0/1", "128.0.0.0/1"]),
        "TCP/6379",
    )


def protection_cases() -> Iterator[Case]:
    yield Case("unprotected-eks", EKS, fx.eks_cluster(), "not protected")
    yield Case("unprotected-rds", "aws:rds/instance:Instance", fx.rds_instance(), "not protected")
    yield Case("unprotected-kms", "aws:kms/key:Key", fx.kms_key(), "not protected")
    yield Case(
        "unprotected-ecr", "aws:ecr/repository:Repository", fx.ecr_repository(), "not protected"
    )
    yield Case(
        "unprotected-vault-mount",
        "vault:index/mount:Mount",
        {"path": "kv", "type": "kv-v2"},
        "not protected",
    )
    yield Case(
        "unprotected-pvc",
        "kubernetes:core/v1:PersistentVolumeClaim",
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}},
        "not protected",
    )
    yield Case(
        "storageclass-delete",
        "kubernetes:storage.k8s.io/v1:StorageClass",
        {"provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete"},
        "reclaimPolicy",
    )
    yield Case(
        "namespace-baseline",
        fx.NAMESPACE,
        {
            "metadata": {
                "name": "bad-ns",
                "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
            }
        },
        "restricted",
    )
    yield Case(
        "namespace-old-version",
        fx.NAMESPACE,
        {
            "metadata": {
                "name": "old-ns",
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "v1.20",
                },
            }
        },
        "enforce-version",
    )


BAD: list[Case] = [
    *wrapper_cases(),
    *pss_cases(),
    *waiver_evasion_cases(),
    *docker_cases(),
    *address_cases(),
    *load_balancer_cases(),
    *protection_cases(),
]


# ---------------------------------------------------------------- good resources


def hardened_loose_container() -> dict[str, Any]:
    c = fx.hardened_container("build")
    c["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
    return c


def good_cases() -> Iterator[Case]:
    for type_ in fx.K8S_WORKLOAD_TYPES:
        kind = type_.rsplit(":", 1)[1]
        yield Case(f"good-{kind}", type_, fx.workload(type_), protect=kind == "StatefulSet")
    yield Case(
        "good-DeploymentPatch",
        "kubernetes:apps/v1:DeploymentPatch",
        {"spec": {"template": template(fx.hardened_pod_spec())}},
    )
    yield Case(
        "good-DeploymentPatch-replicas-only",
        "kubernetes:apps/v1:DeploymentPatch",
        {"spec": {"replicas": 3}},
    )
    yield Case(
        "good-PodTemplate",
        "kubernetes:core/v1:PodTemplate",
        {"template": template(fx.hardened_pod_spec())},
    )
    yield Case(
        "good-argo-rollout",
        "kubernetes:argoproj.io/v1alpha1:Rollout",
        {"spec": {"template": template(fx.hardened_pod_spec())}},
    )
    yield Case(
        "good-tekton-task",
        "kubernetes:tekton.dev/v1:Task",
        {"spec": {"steps": [hardened_loose_container()]}},
    )
    yield Case(
        "good-ingressclassparams",
        "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams",
        {"spec": {"scheme": "internet-facing"}},
    )
    pinned_plugin = device_plugin()
    pinned_plugin["spec"]["template"]["spec"]["containers"][0]["image"] += f"@{fx.DIGEST}"
    yield Case("good-device-plugin-as-waived", DAEMONSET, pinned_plugin, name=PLUGIN)
    yield Case(
        "good-pss-extras",
        DEPLOYMENT,
        deployment(
            lambda s: (
                pod_sc(
                    sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}],
                    seLinuxOptions={"type": "container_t"},
                    appArmorProfile={"type": "RuntimeDefault"},
                )(s),
                container_sc(procMount="Default")(s),
            ),
            {
                "vault.hashicorp.com/agent-inject": "true",
                "vault.hashicorp.com/agent-run-as-user": "100",
                "container.apparmor.security.beta.kubernetes.io/api": "runtime/default",
            },
        ),
    )
    yield Case("good-docker", DOCKER, fx.docker_container())
    yield Case(
        "good-docker-loopback-ports-and-volumes",
        DOCKER,
        docker(
            ports=[
                {"internal": 8080, "external": 18000, "ip": "127.0.0.1"},
                {"internal": 8080, "external": 18001, "ip": "::1"},
            ],
            mounts=[{"type": "volume", "source": "sutazai-data", "target": "/data"}],
            volumes=[{"volumeName": "sutazai-secrets", "containerPath": "/vault/secrets"}],
        ),
    )
    yield Case("good-sg-https", SG_INGRESS, fx.sg_ingress_rule())
    yield Case(
        "good-sg-private-db",
        SG_INGRESS,
        sg_rule(fromPort=5432, toPort=5432, cidrIpv4="10.40.0.0/16"),
    )
    yield Case(
        "good-sg-office-ssh",
        SG_INGRESS,
        sg_rule(fromPort=22, toPort=22, cidrIpv4="203.0.113.0/28"),
    )
    yield Case("good-sg-inline", SG, fx.security_group())
    yield Case(
        "good-alb-redirect-as-waived",
        SG_INGRESS,
        sg_rule(fromPort=80, toPort=80),
        name="sutazai-prod-network-alb-http-redirect-in",
    )
    yield Case(
        "good-alb-https-with-redirect",
        INGRESS,
        ingress(
            listen_ports='[{"HTTP": 80}, {"HTTPS": 443}]',
            ssl_redirect="443",
            certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/x",
        ),
    )
    yield Case("good-alb-own-security-group", INGRESS, ingress(security_groups="sg-0abc"))
    yield Case(
        "good-nlb-internal",
        SERVICE,
        {
            **lb_service([5432]),
            "metadata": {
                "name": "db",
                "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
            },
        },
    )
    yield Case("good-eks-private", EKS, fx.eks_cluster(), protect=True)
    yield Case(
        "good-eks-office",
        EKS,
        eks(endpointPublicAccess=True, publicAccessCidrs=["198.51.100.0/28", "192.0.2.16/28"]),
        protect=True,
    )
    yield Case("good-rds", "aws:rds/instance:Instance", fx.rds_instance(), protect=True)
    yield Case("good-kms", "aws:kms/key:Key", fx.kms_key(), protect=True)
    yield Case(
        "good-secret-env",
        DEPLOYMENT,
        deployment(
            lambda s: s["containers"][0]["env"].append(
                {"name": "API_TOKEN", "value": secret("generated")}
            )
        ),
    )


GOOD: list[Case] = list(good_cases())


# ---------------------------------------------------------------- the run


@pytest.fixture(scope="module")
def verdicts() -> dict[str, list[Violation]]:
    """Every case through one pack process, as the CLI runs a preview: Analyze each
    resource, then AnalyzeStack over all of them."""
    resources = [c.resource() for c in BAD + GOOD]
    urns = [r["urn"] for r in resources]
    assert len(set(urns)) == len(urns), "case ids must be unique"
    with PolicyPackProcess(stack="prod") as pack:
        violations = pack.run(resources, load_config("prod"))
    by_urn: dict[str, list[Violation]] = {u: [] for u in urns}
    for v in violations:
        if v.urn in by_urn:
            by_urn[v.urn].append(v)
    return by_urn


def test_the_suite_is_big_enough() -> None:
    assert len(BAD) >= 100 and len(GOOD) >= 20, (len(BAD), len(GOOD))


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_resource_is_a_mandatory_violation_naming_resource_field_and_fix(
    case: Case, verdicts: dict[str, list[Violation]]
) -> None:
    found = [v for v in verdicts[case.resource().get("urn", "")] if v.level == "mandatory"]
    assert found, f"{case.id}: no mandatory violation ({verdicts[case.resource()['urn']]})"
    named = [v.message for v in found if case.field in v.message]
    assert named, f"{case.id}: no mandatory message names {case.field!r}: {found}"
    message = named[0].splitlines()[-1]
    assert f"'{case.resource_name}'" in message, message
    assert "Fix:" in message, message


@pytest.mark.parametrize("case", GOOD, ids=[c.id for c in GOOD])
def test_good_resource_is_not_flagged(case: Case, verdicts: dict[str, list[Violation]]) -> None:
    # Backup coverage is a property of the whole stack (a selection must pick the resource):
    # a lone good resource has none; tests/policy/test_policy_backup.py covers that rule.
    found = [v for v in verdicts[case.resource()["urn"]] if v.policy != "prod-backup-coverage"]
    assert found == [], case.id
