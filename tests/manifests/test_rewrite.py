"""Rewriting images and injecting pull policies, byte for byte everywhere else."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from hoist.core.policy import PullPolicy
from hoist.manifests import ImageRule, RenderedFile, read_source, render_file, rules_by_repository

NEW = "registry.local:5000/team/app:dev@sha256:" + "ab" * 32
ALWAYS, IF_NOT_PRESENT, NEVER = PullPolicy.ALWAYS, PullPolicy.IF_NOT_PRESENT, PullPolicy.NEVER


def render(text: str, *rules: ImageRule, data: bytes | None = None) -> RenderedFile:
    source = read_source("r.yaml", data if data is not None else text.encode())
    return render_file(source, rules_by_repository(rules))


def out(text: str, *rules: ImageRule) -> str:
    return render(textwrap.dedent(text), *rules).text


def rule(repo: str = "app", new: str = NEW, policy: PullPolicy | None = None,
         override: bool = False) -> ImageRule:
    return ImageRule(repo, new, policy, override)


def pod(containers: str) -> str:
    return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n" + containers


def dd(text: str) -> str:
    return textwrap.dedent(text)


# ---- styles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("written,expected", [
    ("app:v1", NEW),
    ("'app:v1'", f"'{NEW}'"),
    ('"app:v1"', f'"{NEW}"'),
    ("!!str app:v1", f"!!str {NEW}"),
    ("&anchor app:v1", f"&anchor {NEW}"),
])
def test_scalar_styles_are_kept(written: str, expected: str) -> None:
    text = pod(f"  - name: a  # the app\n    image: {written}  # built by CI\n    args: [x]\n")
    got = render(text, rule()).text
    assert got == text.replace(f"image: {written}", f"image: {expected}")


@pytest.mark.parametrize("indicator", ["|-", ">-", "|", ">"])
def test_block_scalar_becomes_a_quoted_scalar_on_the_same_line(indicator: str) -> None:
    # `|` and `>` keep a newline in the value, which no reference has: not matched.
    text = pod(f"  - name: a\n    image: {indicator}  # c\n      app:v1\n    args: [x]\n")
    got = render(text, rule()).text
    if indicator.endswith("-"):
        assert got == text.replace(f"image: {indicator}  # c\n      app:v1\n",
                                   f'image: "{NEW}"  # c\n')
        assert yaml.safe_load(got)["spec"]["containers"][0]["image"] == NEW
    else:
        assert got == text


def test_flow_styles() -> None:
    text = pod(
        "  - {name: a, image: app:v1}\n"
        "  - {name: b, image: 'app:v2', imagePullPolicy: Always}\n"
        '  - {"name": "c", "image": "app"}\n'
    )
    got = render(text, rule()).text
    assert got == pod(
        f"  - {{name: a, image: {NEW}}}\n"
        f"  - {{name: b, image: '{NEW}', imagePullPolicy: Always}}\n"
        f'  - {{"name": "c", "image": "{NEW}"}}\n'
    )


def test_plain_value_that_would_not_stay_a_string_is_quoted() -> None:
    got = render(pod("  - name: a\n    image: app\n"), rule(new="app:1")).text
    assert got.endswith("    image: app:1\n")
    assert yaml.safe_load(got)["spec"]["containers"][0]["image"] == "app:1"


def test_comments_and_everything_else_are_kept() -> None:
    text = dd("""\
        # Top comment, with image: app:v0 in it, which is not an image.
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: "web"   # quoted on purpose
          labels: {app: web,  tier: "front"}
        spec:
          replicas: 003
          template:
            spec:
              containers:
                # the main container
                - name: web
                  image: app:v1     # replaced
                  env:
                    - {name: IMAGE, value: "app:v1"}
                    - name: OTHER
                      value: 'app:v1'
        ...
        ---
        # second document
        kind: ConfigMap
        data:
          pod.yaml: |
            containers:
            - image: app:v1
        """)
    got = render(text, rule(policy=NEVER)).text
    expected = text.replace(
        "image: app:v1     # replaced\n",
        f"image: {NEW}     # replaced\n          imagePullPolicy: Never\n")
    assert got == expected


# ---- injection ---------------------------------------------------------------------------------

def test_injection_after_the_image_line_at_the_key_indent() -> None:
    text = dd("""\
        kind: Pod
        spec:
          containers:
          - image: app:v1   # first key on the dash line
            name: a
          - name: b
            image:
              app:v2
            ports:
            - containerPort: 80
          -   name: c
              image: app:v3
        """)
    got = render(text, rule(new="app:v9", policy=IF_NOT_PRESENT)).text
    assert got == dd("""\
        kind: Pod
        spec:
          containers:
          - image: app:v9   # first key on the dash line
            imagePullPolicy: IfNotPresent
            name: a
          - name: b
            image:
              app:v9
            imagePullPolicy: IfNotPresent
            ports:
            - containerPort: 80
          -   name: c
              image: app:v9
              imagePullPolicy: IfNotPresent
        """)


def test_injection_after_a_block_scalar_image() -> None:
    text = pod("  - name: a\n    image: >-\n      app:v1\n    args: [x]\n")
    got = render(text, rule(policy=ALWAYS)).text
    assert got == pod(f'  - name: a\n    image: "{NEW}"\n    imagePullPolicy: Always\n'
                      "    args: [x]\n")


def test_injection_in_flow_mappings() -> None:
    text = pod("  - {name: a, image: app:v1}\n  - {name: b, image: app:v2, args: [x]}\n")
    got = render(text, rule(new="app:v9", policy=NEVER)).text
    assert got == pod(
        "  - {name: a, image: app:v9, imagePullPolicy: Never}\n"
        "  - {name: b, image: app:v9, imagePullPolicy: Never, args: [x]}\n"
    )


def test_injection_in_multi_line_flow_mapping() -> None:
    text = pod("  - {\n      name: a,\n      image: app:v1\n    }\n")
    got = render(text, rule(new="app:v9", policy=NEVER)).text
    assert got == pod("  - {\n      name: a,\n      image: app:v9,\n"
                      "      imagePullPolicy: Never\n    }\n")
    assert yaml.safe_load(got)["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def json_pod(images: list[str], indent: int | None) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
        "spec": {"containers": [{"name": f"c{i}", "image": img, "ports": [{"p": 1}]}
                                for i, img in enumerate(images)]},
    }, indent=indent)


@pytest.mark.parametrize("indent", [None, 2, 4])
def test_json_injection_keeps_json_and_its_layout(indent: int | None) -> None:
    text = json_pod(["app:v1", "nginx", "app"], indent)
    got = render(text, rule(new="app:v9", policy=IF_NOT_PRESENT)).text
    obj = json.loads(got)  # still JSON
    c = obj["spec"]["containers"]
    assert [x["image"] for x in c] == ["app:v9", "nginx", "app:v9"]
    assert ["imagePullPolicy" in x for x in c] == [True, False, True]
    assert c[0]["imagePullPolicy"] == "IfNotPresent"
    if indent is None:
        assert got == text.replace('"image": "app:v1"',
                                   '"image": "app:v9", "imagePullPolicy": "IfNotPresent"'
                                   ).replace('"image": "app"',
                                             '"image": "app:v9", "imagePullPolicy": '
                                             '"IfNotPresent"')
    else:
        # Exactly what json.dumps writes for the rendered object: same layout.
        expected = json.loads(text)
        for x in expected["spec"]["containers"]:
            if x["image"].startswith("app"):
                x["image"] = "app:v9"
        reordered = []
        for x in expected["spec"]["containers"]:
            items = list(x.items())
            if x["image"] == "app:v9":
                items.insert(2, ("imagePullPolicy", "IfNotPresent"))
            reordered.append(dict(items))
        expected["spec"]["containers"] = reordered
        assert got == json.dumps(expected, indent=indent)


def test_crlf_file_gets_crlf_lines() -> None:
    text = pod("  - name: a\n    image: app:v1\n  - name: b\n    image: nginx\n").replace(
        "\n", "\r\n")
    got = render(text, rule(new="app:v9", policy=ALWAYS)).text
    assert got == pod("  - name: a\n    image: app:v9\n    imagePullPolicy: Always\n"
                      "  - name: b\n    image: nginx\n").replace("\n", "\r\n")
    assert "\n" not in got.replace("\r\n", "")


def test_file_without_trailing_newline() -> None:
    text = pod("  - name: a\n    image: app:v1")
    got = render(text, rule(new="app:v9", policy=NEVER)).text
    assert got == pod("  - name: a\n    image: app:v9\n    imagePullPolicy: Never")
    text = pod("  - name: a\n    image: app:v1  # c")
    got = render(text, rule(new="app:v9", policy=NEVER)).text
    assert got == pod("  - name: a\n    image: app:v9  # c\n    imagePullPolicy: Never")


def test_bom_is_kept() -> None:
    data = b"\xef\xbb\xbf" + pod("  - name: a\n    image: app\n").encode()
    r = render("", rule(new="app:v9"), data=data)
    assert r.encode() == data.replace(b"image: app\n", b"image: app:v9\n")


# ---- which containers, which policies ------------------------------------------------------------

def test_policy_only_where_none_is_declared_unless_override() -> None:
    text = pod(
        "  - name: none\n    image: app:v1\n"
        "  - name: explicit\n    image: app:v1\n    imagePullPolicy: Always\n"
        "  - name: same\n    image: app:v1\n    imagePullPolicy: 'Never'\n"
    )
    plain = render(text, rule(new="app:v9", policy=NEVER))
    assert plain.text == pod(
        "  - name: none\n    image: app:v9\n    imagePullPolicy: Never\n"
        "  - name: explicit\n    image: app:v9\n    imagePullPolicy: Always\n"
        "  - name: same\n    image: app:v9\n    imagePullPolicy: 'Never'\n"
    )
    assert [(c.site.name, c.policy_written, c.policy_replaced) for c in plain.changes] == [
        ("none", NEVER, False), ("explicit", None, False), ("same", None, False)]

    override = render(text, rule(new="app:v9", policy=NEVER, override=True))
    assert override.text == pod(
        "  - name: none\n    image: app:v9\n    imagePullPolicy: Never\n"
        "  - name: explicit\n    image: app:v9\n    imagePullPolicy: Never\n"
        "  - name: same\n    image: app:v9\n    imagePullPolicy: 'Never'\n"
    )
    assert [(c.site.name, c.policy_written, c.policy_replaced) for c in override.changes] == [
        ("none", NEVER, False), ("explicit", NEVER, True), ("same", None, False)]


def test_no_policy_rule_never_adds_one() -> None:
    text = pod("  - name: a\n    image: app:v1\n")
    assert render(text, rule(new="app:v9", override=True)).text == pod(
        "  - name: a\n    image: app:v9\n")


def test_third_party_images_are_never_touched() -> None:
    text = pod(
        "  - name: mine\n    image: app:v1\n"
        "  - name: theirs\n    image: nginx:1.25\n"
        "  - name: theirs-too\n    image: quay.io/app:v1\n"
        "  - name: lookalike\n    image: app-sidecar:v1\n"
        "  - name: invalid\n    image: <image_url>\n"
    )
    r = render(text, rule(new="app:v9", policy=ALWAYS, override=True))
    assert r.text == text.replace("image: app:v1\n", "image: app:v9\n    imagePullPolicy: Always\n")
    assert [c.site.name for c in r.changes] == ["mine"]


@pytest.mark.parametrize("written", [
    "nginx", "nginx:1.25", "nginx:latest", "library/nginx", "docker.io/nginx",
    "docker.io/library/nginx:1", "index.docker.io/library/nginx",
    "nginx@sha256:" + "c" * 64, "docker.io/library/nginx:1.2@sha256:" + "c" * 64,
])
@pytest.mark.parametrize("repo", ["nginx", "docker.io/library/nginx", "nginx:9.9"])
def test_matching_ignores_tag_and_digest_and_normalizes(written: str, repo: str) -> None:
    text = pod(f"  - name: a\n    image: {written}\n")
    assert render(text, rule(repo, "mirror/nginx:v9")).text == pod(
        "  - name: a\n    image: mirror/nginx:v9\n")


@pytest.mark.parametrize("written", [
    "nginx-unprivileged", "myorg/nginx", "quay.io/nginx", "localhost:5000/nginx",
    "docker.io/library/nginx/extra", "nginxinc/nginx-unprivileged:1",
])
def test_other_repositories_do_not_match(written: str) -> None:
    text = pod(f"  - name: a\n    image: {written}\n")
    assert render(text, rule("nginx", "mirror/nginx:v9", ALWAYS)).text == text


def test_already_the_new_image_gets_only_the_policy() -> None:
    text = pod(f"  - name: a\n    image: {NEW}\n")
    r = render(text, rule("registry.local:5000/team/app", policy=IF_NOT_PRESENT))
    assert r.text == pod(f"  - name: a\n    image: {NEW}\n    imagePullPolicy: IfNotPresent\n")


def test_all_container_types_and_image_volumes() -> None:
    text = dd("""\
        apiVersion: batch/v1
        kind: CronJob
        spec:
          jobTemplate:
            spec:
              template:
                spec:
                  initContainers:
                  - name: i
                    image: app:init
                  containers:
                  - name: c
                    image: app:main
                  ephemeralContainers:
                  - name: e
                    image: app:debug
                  volumes:
                  - name: v
                    image:
                      reference: app:data
                  - name: w
                    image: {reference: app:data2, pullPolicy: Always}
        """)
    got = render(text, rule(new="app:v9", policy=NEVER)).text
    assert got == dd("""\
        apiVersion: batch/v1
        kind: CronJob
        spec:
          jobTemplate:
            spec:
              template:
                spec:
                  initContainers:
                  - name: i
                    image: app:v9
                    imagePullPolicy: Never
                  containers:
                  - name: c
                    image: app:v9
                    imagePullPolicy: Never
                  ephemeralContainers:
                  - name: e
                    image: app:v9
                    imagePullPolicy: Never
                  volumes:
                  - name: v
                    image:
                      reference: app:v9
                      pullPolicy: Never
                  - name: w
                    image: {reference: app:v9, pullPolicy: Always}
        """)


def test_several_rules_and_documents() -> None:
    text = pod("  - name: a\n    image: app:v1\n") + "---\n" + pod(
        "  - name: b\n    image: web:v1\n  - name: c\n    image: db:v1\n")
    got = render(text, rule("app", "app:v2"), rule("web", "web:v2", ALWAYS)).text
    assert got == pod("  - name: a\n    image: app:v2\n") + "---\n" + pod(
        "  - name: b\n    image: web:v2\n    imagePullPolicy: Always\n"
        "  - name: c\n    image: db:v1\n")


def test_no_rules_is_the_identity() -> None:
    text = pod("  - name: a\n    image: app:v1\n")
    r = render(text)
    assert r.text == text and not r.changed and r.changes == []


# ---- anchors, aliases and merge keys ------------------------------------------------------

def test_anchored_image_keeps_its_anchor_and_aliases_follow() -> None:
    text = pod(
        "  - name: a\n    image: &img app:v1\n"
        "  - name: b\n    image: *img\n"
    )
    got = render(text, rule(new="app:v9", policy=NEVER)).text
    assert got == pod(
        "  - name: a\n    image: &img app:v9\n    imagePullPolicy: Never\n"
        "  - name: b\n    image: *img\n    imagePullPolicy: Never\n"
    )
    c = yaml.safe_load(got)["spec"]["containers"]
    assert [(x["image"], x["imagePullPolicy"]) for x in c] == [("app:v9", "Never")] * 2


def test_image_from_a_merge_key() -> None:
    text = dd("""\
        kind: Pod
        spec:
          initContainers:
          - &base
            name: a
            image: app:v1
          containers:
          - <<: *base
            name: b
        """)
    got = render(text, rule(new="app:v9", policy=ALWAYS)).text
    loaded = yaml.safe_load(got)["spec"]
    assert loaded["initContainers"] == [{"name": "a", "image": "app:v9",
                                         "imagePullPolicy": "Always"}]
    assert loaded["containers"] == [{"name": "b", "image": "app:v9",
                                     "imagePullPolicy": "Always"}]
    assert got.count("app:v9") == 1


def test_alias_images_in_flow_mappings_volumes_and_on_the_next_line() -> None:
    text = dd("""\
        kind: Pod
        spec:
          initContainers:
          - name: a
            image: &img app:v1
          containers:
          - {name: b, image: *img}
          - name: c
            image:
              *img  # aliased
            args: [x]
          volumes:
          - name: v
            image: {reference: *img}
        """)
    got = render(text, rule(new="app:v9", policy=NEVER)).text
    assert got == dd("""\
        kind: Pod
        spec:
          initContainers:
          - name: a
            image: &img app:v9
            imagePullPolicy: Never
          containers:
          - {name: b, image: *img, imagePullPolicy: Never}
          - name: c
            image:
              *img  # aliased
            imagePullPolicy: Never
            args: [x]
          volumes:
          - name: v
            image: {reference: *img, pullPolicy: Never}
        """)


def test_merged_container_with_nothing_else_written_gets_no_policy_of_its_own() -> None:
    text = dd("""\
        kind: Pod
        spec:
          initContainers:
          - &base {name: a, image: app:v1}
          containers:
          - <<: *base
        """)
    r = render(text, rule(new="app:v9", policy=NEVER))
    # Nowhere to write one in `- <<: *base`; it inherits the one its base got.
    assert r.text == text.replace("image: app:v1}", "image: app:v9, imagePullPolicy: Never}")
    assert [(c.site.name, c.policy_written) for c in r.changes] == [("a", NEVER), ("a", None)]
    loaded = yaml.safe_load(r.text)["spec"]
    assert loaded["containers"] == loaded["initContainers"]
