"""Where settings come from, highest first, and `vizctl config show` (no network: pure resolution)."""

from __future__ import annotations

import json
import os

import pytest

from cliutil import run, write
from vizctl.errors import ConfigError
from vizctl.api.settings import resolve
from vizctl.api import endpoints

NO_FLAGS: dict = {}


def resolved(environ, flags=NO_FLAGS, cwd="/nonexistent"):
    return resolve(flags, environ, cwd)


def koocli(home, current="dev", **profiles):
    path = home / ".hcloud" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current": current, "profiles": [{"name": n, **p} for n, p in profiles.items()]}))
    return path


def test_layers_in_order_flag_vizctl_sdk_hw_os_file(tmp_path):
    koocli(tmp_path, dev={"mode": "AKSK", "region": "r-file", "accessKeyId": "FILEAK0001", "secretAccessKey": "filesk0001"})
    environ = {"HOME": str(tmp_path), "OS_REGION_NAME": "r-os"}
    assert resolved(environ).values["region"].source == "env OS_REGION_NAME"
    assert resolved({"HOME": str(tmp_path)}).values["region"].source.endswith("config.json profile dev region")
    environ["HW_REGION_NAME"] = "r-hw"
    assert resolved(environ).get("region") == "r-hw"
    environ["VIZCTL_REGION"] = "r-vizctl"
    assert resolved(environ).get("region") == "r-vizctl"
    assert resolved(environ, {"region": "r-flag"}).values["region"].source == "flag --region"


def test_credentials_come_as_one_group_from_the_highest_source(tmp_path):
    koocli(tmp_path, dev={"mode": "AKSK", "accessKeyId": "FILEAK0001", "secretAccessKey": "filesk0001"})
    environ = {"HOME": str(tmp_path), "OS_ACCESS_KEY": "OSAK00001", "OS_SECRET_KEY": "ossk00001", "OS_PASSWORD": "pw",
               "OS_USERNAME": "u"}
    s = resolved(environ)
    assert (s.method, s.get("access_key"), s.get("secret_key")) == ("aksk", "OSAK00001", "ossk00001")
    s = resolved({**environ, "HUAWEICLOUD_SDK_AK": "SDKAK0001", "HUAWEICLOUD_SDK_SK": "sdksk0001"})
    assert s.values["secret_key"].source == "env HUAWEICLOUD_SDK_SK"
    s = resolved({**environ, "VIZCTL_TOKEN": "tok-1234"})
    assert s.method == "token" and "access_key" not in s.values
    assert resolved({"HOME": str(tmp_path)}).values["access_key"].source.endswith("profile dev accessKeyId")


def test_an_access_key_never_pairs_with_another_sources_secret():
    with pytest.raises(ConfigError, match="VIZCTL_\\* variables hold env VIZCTL_ACCESS_KEY but no secret_key"):
        resolved({"VIZCTL_ACCESS_KEY": "AK0000001", "HW_SECRET_KEY": "sk0000001"})


def test_openstack_order_within_a_source_token_then_aksk_then_password():
    environ = {"OS_TOKEN": "tok-1234", "OS_ACCESS_KEY": "AK0000001", "OS_SECRET_KEY": "sk0000001",
               "OS_USERNAME": "u", "OS_PASSWORD": "pw0000001"}
    assert resolved(environ).method == "token"
    del environ["OS_TOKEN"]
    assert resolved(environ).method == "aksk"
    del environ["OS_ACCESS_KEY"], environ["OS_SECRET_KEY"]
    s = resolved(environ)
    assert s.method == "password" and s.get("username") == "u"


@pytest.mark.parametrize("value", ["T0K-1234\n", " T0K-1234", "T0K\r1234", "T0K-1234\t"])
def test_credential_with_whitespace_is_refused_naming_the_variable_not_the_value(value):
    with pytest.raises(ConfigError) as caught:
        resolved({"VIZCTL_TOKEN": value})
    assert "env VIZCTL_TOKEN" in str(caught.value) and "T0K" not in str(caught.value)


def test_koocli_profile_by_flag_by_current_and_encrypted(tmp_path):
    koocli(tmp_path, dev={"mode": "AKSK", "region": "eu-de", "accessKeyId": "DEVAK0001", "secretAccessKey": "devsk0001"},
           prod={"mode": "AKSK", "region": "eu-nl", "accessKeyId": "PRODAK001", "secretAccessKey": "prodsk001",
                 "projectId": "pid-prod"},
           vm={"mode": "ecsAgency", "region": "eu-de"},
           locked={"mode": "AKSK"})
    home = {"HOME": str(tmp_path)}
    assert resolved(home).get("access_key") == "DEVAK0001"
    s = resolved(home, {"profile": "prod"})
    assert (s.get("access_key"), s.get("region"), s.get("project_id")) == ("PRODAK001", "eu-nl", "pid-prod")
    assert resolved({**home, "HW_PROFILE": "vm"}).method == "agency"
    with pytest.raises(ConfigError, match="hcloud configure set --cli-auth-encrypt=false"):
        resolved({**home, "VIZCTL_PROFILE": "locked"})
    with pytest.raises(ConfigError, match="profile 'nope' \\(flag --profile\\) is in neither"):
        resolved(home, {"profile": "nope"})
    encrypted = tmp_path / "encrypted.json"
    encrypted.write_text(json.dumps({"authEncrypt": "true", "current": "x", "profiles": [
        {"name": "x", "mode": "AKSK", "accessKeyId": "c2VjcmV0IGVuY3J5cHRlZA==", "secretAccessKey": "AAAA+/zzz=="}]}))
    with pytest.raises(ConfigError, match="VIZCTL_ACCESS_KEY and VIZCTL_SECRET_KEY instead"):
        resolved({**home, "HW_SHARED_CONFIG_FILE": str(encrypted)})
    other = koocli(tmp_path / "elsewhere", current="prod", prod={"mode": "AKSK", "accessKeyId": "ELSEAK001", "secretAccessKey": "elsesk001"})
    assert resolved({**home, "HW_SHARED_CONFIG_FILE": str(other)}).get("access_key") == "ELSEAK001"


def test_huawei_sdk_credentials_file(tmp_path):
    write(tmp_path / ".huaweicloud" / "credentials", """\
        [basic]
        ak = SDKFILEAK01
        sk = sdkfilesk01
        project_id = pid-sdk
        """)
    s = resolved({"HOME": str(tmp_path)})
    assert (s.method, s.get("access_key"), s.get("project_id")) == ("aksk", "SDKFILEAK01", "pid-sdk")
    assert s.values["secret_key"].source.endswith("credentials [basic] sk")


HOME_CLOUD = """\
    clouds:
      otc:
        region_name: eu-nl
        auth:
          username: home-user
          password: home-pw-1
          project_name: eu-nl
          user_domain_name: OTC00000000001000000xxx
          auth_url: https://iam.eu-nl.otc.t-systems.com/v3
    """


def test_clouds_yaml_as_openstacksdk_reads_it_the_first_file_found_whole(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    write(home / ".config" / "openstack" / "clouds.yaml", HOME_CLOUD)
    environ = {"HOME": str(home), "OS_CLOUD": "otc"}
    s = resolved(environ, cwd=str(work))
    assert (s.method, s.get("username"), s.get("password"), s.get("region")) == ("password", "home-user", "home-pw-1", "eu-nl")
    assert endpoints.strip_v3(s.get("iam_endpoint")) == "https://iam.eu-nl.otc.t-systems.com"
    # ./clouds.yaml comes first, and is read whole: nothing of the home file is merged into it
    write(work / "clouds.yaml", "clouds: {otc: {region_name: eu-de, auth: {username: work-user, password: work-pw-1}}}\n")
    s = resolved(environ, cwd=str(work))
    assert (s.get("username"), s.get("password"), s.get("region"), s.get("project_name")) == ("work-user", "work-pw-1", "eu-de", None)
    assert s.values["password"].source == f"clouds.yaml cloud otc ({work / 'clouds.yaml'}) password"
    # OS_CLIENT_CONFIG_FILE comes before every directory, and may be .json
    given = tmp_path / "elsewhere.json"
    given.write_text(json.dumps({"clouds": {"otc": {"region_name": "eu-ch2", "auth": {"username": "u2", "password": "given-pw-1"}}}}))
    s = resolved({**environ, "OS_CLIENT_CONFIG_FILE": str(given)}, cwd=str(work))
    assert (s.get("password"), s.get("region")) == ("given-pw-1", "eu-ch2")
    # one that does not exist is passed over, as openstacksdk does
    assert resolved({**environ, "OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")}, cwd=str(work)).get("password") == "work-pw-1"
    # a cloud missing from the first file is an error, even when a later file has it
    write(work / "clouds.yaml", "clouds: {other: {region_name: eu-de}}\n")
    with pytest.raises(ConfigError, match="OS_CLOUD is 'otc', but .*work/clouds.yaml has no cloud of that name"):
        resolved(environ, cwd=str(work))
    with pytest.raises(ConfigError, match="OS_CLOUD is 'missing', but there is no clouds.yaml"):
        resolved({"HOME": str(tmp_path / "nobody"), "OS_CLOUD": "missing"}, cwd=str(tmp_path / "nowhere"))


def test_secure_yaml_is_found_on_its_own_and_merged_over_the_cloud_key_by_key(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    write(work / "clouds.yml", "clouds: {otc: {region_name: eu-de, auth: {username: work-user, project_name: eu-de}}}\n")
    write(home / ".config" / "openstack" / "clouds.yaml", HOME_CLOUD)  # never read: ./clouds.yml is found first
    write(home / ".config" / "openstack" / "secure.yaml", "clouds: {otc: {auth: {password: secure-pw-1}}}\n")
    environ = {"HOME": str(home), "OS_CLOUD": "otc"}
    s = resolved(environ, cwd=str(work))
    assert (s.method, s.get("username"), s.get("password"), s.get("project_name")) == ("password", "work-user", "secure-pw-1", "eu-de")
    assert s.get("iam_endpoint") is None  # the home clouds.yaml's auth_url is not merged in
    write(work / "secure.json", json.dumps({"clouds": {"otc": {"ak": "CLOUDAK01", "sk": "cloudsk01"}}}))
    s = resolved(environ, cwd=str(work))
    assert (s.method, s.get("access_key"), s.get("region")) == ("aksk", "CLOUDAK01", "eu-de")  # AK/SK before a password
    s = resolved({**environ, "OS_CLIENT_SECURE_FILE": str(home / ".config" / "openstack" / "secure.yaml")}, cwd=str(work))
    assert (s.method, s.get("password")) == ("password", "secure-pw-1")


@pytest.mark.parametrize("regions,source", [("regions: [eu-de, eu-nl]", "regions"), ("regions: [{name: eu-de}]", "regions"),
                                            ("region_name: [eu-de, eu-nl]", "region_name"),
                                            ("region_name: 'eu-de,eu-nl'", "region_name")])
def test_a_clouds_region_list_gives_its_first_region_as_openstacksdk_does(tmp_path, regions, source):
    write(tmp_path / "clouds.yaml", f"clouds:\n  otc:\n    {regions}\n    auth: {{token: cloud-token-1}}\n")
    s = resolved({"HOME": str(tmp_path / "home"), "OS_CLOUD": "otc"}, cwd=str(tmp_path))
    assert s.get("region") == "eu-de" and s.values["region"].source.endswith(f"clouds.yaml) {source}")


def test_vizctl_config_profiles_env_references_and_readable_literal_warning(tmp_path):
    path = write(tmp_path / ".config" / "vizctl" / "config.yaml", """\
        current: ci
        profiles:
          ci:
            region: eu-west-101
            access_key: env:CI_AK
            secret_key: env:CI_SK
          laptop:
            region: eu-de
            token: literal-token-1234
        """)
    os.chmod(path, 0o600)
    home = {"HOME": str(tmp_path), "CI_AK": "CIAK00001", "CI_SK": "cisk00001"}
    s = resolved(home)
    assert (s.get("access_key"), s.get("secret_key")) == ("CIAK00001", "cisk00001") and not s.warnings
    assert s.values["secret_key"].source.endswith("profile ci secret_key (env CI_SK)")
    with pytest.raises(ConfigError, match="env:CI_SK, which is not set"):
        resolved({"HOME": str(tmp_path), "CI_AK": "CIAK00001"})
    assert not resolved(home, {"profile": "laptop"}).warnings
    os.chmod(path, 0o644)
    warned = resolved(home, {"profile": "laptop"})
    assert warned.get("token") == "literal-token-1234"
    assert "holds a literal token and others can read the file" in warned.warnings[0]


@pytest.mark.parametrize("region,modelarts,iam", [
    ("eu-de", "https://modelarts.eu-de.otc.t-systems.com", "https://iam.eu-de.otc.t-systems.com"),
    ("cn-north-4", "https://modelarts.cn-north-4.myhuaweicloud.com", "https://iam.cn-north-4.myhuaweicloud.com"),
    ("eu-west-101", "https://modelarts.eu-west-101.myhuaweicloud.eu", "https://iam.eu-west-101.myhuaweicloud.eu"),
    ("ap-southeast-1", "https://modelarts.ap-southeast-1.myhuaweicloud.cn", "https://iam.ap-southeast-1.myhuaweicloud.com"),
])
def test_endpoints_follow_from_the_region(region, modelarts, iam):
    assert (endpoints.modelarts_endpoint(region), endpoints.iam_endpoint(region)) == (modelarts, iam)


def test_an_empty_region_is_never_turned_into_a_url():
    with pytest.raises(ConfigError, match="not a region name"):
        endpoints.iam_endpoint("")


def test_config_show_prints_sources_and_masks_secrets(tmp_path):
    koocli(tmp_path, dev={"mode": "AKSK", "region": "eu-de", "accessKeyId": "SHOWAK0001", "secretAccessKey": "SHOWSK-SECRET-1"})
    result = run("config", "show", "--profile", "dev",
                 env={"HOME": str(tmp_path), "HW_SECURITY_TOKEN": "ignored-other-source",
                      "HTTPS_PROXY": "http://proxyuser:PROXY-PW-1@proxy.corp:3128", "NO_PROXY": ".internal"})
    assert result.code == 0, result.all
    lines = {line.split()[0]: line for line in result.out.splitlines()}
    assert "https://modelarts.eu-de.otc.t-systems.com" in lines["endpoint"] and "from region eu-de" in lines["endpoint"]
    assert "SHOW****" in lines["access_key"] and "profile dev accessKeyId" in lines["access_key"]
    assert "****" in lines["secret_key"] and "security_token" not in lines
    assert "aksk" in lines["auth"] and "flag --profile" in lines["profile"]
    assert "http://proxyuser:****@proxy.corp:3128" in lines["https_proxy"] and "(except .internal)" in lines["https_proxy"]
    for secret in ("SHOWSK-SECRET-1", "PROXY-PW-1", "ignored-other-source"):
        assert secret not in result.all


def test_an_agency_profile_below_does_not_override_a_token_above(tmp_path):
    koocli(tmp_path, current="vm", vm={"mode": "ecsAgency", "region": "eu-de"})
    assert resolved({"HOME": str(tmp_path), "VIZCTL_TOKEN": "tok-1234"}).method == "token"
    assert resolved({"HOME": str(tmp_path)}).method == "agency"
    s = resolved({"VIZCTL_AUTH": "password", "OS_TOKEN": "tok-1234", "OS_USERNAME": "u", "OS_PASSWORD": "pw00001"})
    assert s.method == "password" and s.values["auth"].source == "env VIZCTL_AUTH"
    with pytest.raises(ConfigError, match="env VIZCTL_AUTH must be one of"):
        resolved({"VIZCTL_AUTH": "magic"})


def test_a_higher_layers_auth_wins_over_a_lower_layers(tmp_path):
    """VIZCTL_AUTH=aksk above a config profile that says auth: password (and holds both groups): AK/SK is used."""
    config = write(tmp_path / "config.yaml", """\
        profiles:
          default: {auth: password, username: u, password: pw-00001, access_key: FILEAK0001, secret_key: filesk0001}
        """)
    os.chmod(config, 0o600)
    s = resolved({"VIZCTL_CONFIG": str(config), "VIZCTL_AUTH": "aksk"})
    assert (s.method, s.get("access_key"), s.values["auth"].source) == ("aksk", "FILEAK0001", "env VIZCTL_AUTH")
    assert resolved({"VIZCTL_CONFIG": str(config)}).method == "password"


def test_sim_token_with_a_newline_is_refused_too(tmp_path):
    result = run("plan", "--sim", "-f", "examples/", env={"VIZCTL_TOKEN": "T0K-1234\n"}, cwd=tmp_path)
    assert result.code == 1 and "env VIZCTL_TOKEN (token) starts or ends with whitespace" in result.err
    assert "T0K" not in result.all
