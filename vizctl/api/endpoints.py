"""Endpoints that follow from a region: ModelArts and IAM on Huawei Cloud, Huawei Cloud Europe and Open Telekom Cloud.

Patterns (shared/api/credentials.md): ``https://{service}.{region}.{cloud}`` with the cloud's
domain ``myhuaweicloud.com``; ``myhuaweicloud.eu`` for the ``eu-west-1*`` regions (Huawei Cloud
Europe); ``otc.t-systems.com`` for Open Telekom Cloud's ``eu-de`` / ``eu-nl`` / ``eu-ch2``.
Exception: ModelArts in ``ap-southeast-1`` answers on ``myhuaweicloud.cn``.
"""

from __future__ import annotations

import re

from vizctl.errors import ConfigError

OTC_REGIONS = ("eu-de", "eu-nl", "eu-ch2")
MODELARTS_EXCEPTIONS = {"ap-southeast-1": "https://modelarts.ap-southeast-1.myhuaweicloud.cn"}
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")


def cloud_domain(region: str, cloud: str | None = None) -> str:
    """The domain services of ``region`` live under (``cloud`` overrides, as HW_CLOUD does)."""
    check_region(region)
    if cloud:
        return cloud
    if region in OTC_REGIONS:
        return "otc.t-systems.com"
    if region.startswith("eu-west-1"):
        return "myhuaweicloud.eu"
    return "myhuaweicloud.com"


def modelarts_endpoint(region: str, cloud: str | None = None) -> str:
    if not cloud and region in MODELARTS_EXCEPTIONS:
        return MODELARTS_EXCEPTIONS[region]
    return f"https://modelarts.{region}.{cloud_domain(region, cloud)}"


def iam_endpoint(region: str, cloud: str | None = None) -> str:
    """IAM's base URL without ``/v3``."""
    return f"https://iam.{region}.{cloud_domain(region, cloud)}"


def strip_v3(url: str) -> str:
    """``https://iam.eu-de.otc.t-systems.com/v3/`` -> ``https://iam.eu-de.otc.t-systems.com`` (auth URLs carry /v3)."""
    url = url.rstrip("/")
    return url[:-3].rstrip("/") if url.endswith("/v3") else url


def check_region(region: str) -> None:
    """A region name like ``eu-de`` or ``cn-north-4``; never an empty one (no ``iam..myhuaweicloud.com``)."""
    if not _REGION.fullmatch(region or ""):
        raise ConfigError(f"{region!r} is not a region name like eu-de, eu-west-101 or ap-southeast-1")
