"""GET /api/offers: `provisioner offers` over HTTP (#12)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from provisioner.api.auth import Caller, State
from provisioner.api.schemas import ErrorOut, _Out
from provisioner.capacity.offers import query_offers

router = APIRouter(tags=["capacity"])


class OfferOut(_Out):
    provider: str
    instance_type: str
    region: str
    gpu: str
    gpu_model: str
    gpu_count: int
    gpu_memory_gb: int = Field(alias="gpuMemoryGB")
    vcpus: int
    ram_gb: int = Field(alias="ramGB")
    cost_per_hour: float
    spot_cost_per_hour: float | None


class OfferList(_Out):
    success: bool = True
    gpu: str | None
    spot: bool
    prices_as_of: str
    spot_prices_as_of: str | None
    offers: list[OfferOut]
    count: int


@router.get(
    "/api/offers",
    response_model=OfferList,
    summary="Types and regions matching a GPU spec, cheapest first",
    responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}},
)
def offers(
    caller: Caller,
    state: State,
    gpu: Annotated[str | None, Query(min_length=1, description="T4:1, A100:8, H100")] = None,
    provider: Annotated[
        str | None, Query(min_length=1, description="AWS, AZURE, GCP or ANY")
    ] = None,
    region: Annotated[str | None, Query(min_length=1)] = None,
    spot: Annotated[bool, Query(description="Order by spot price")] = False,
    max_price: Annotated[float | None, Query(alias="maxPrice")] = None,
    min_gpu_memory: Annotated[int | None, Query(alias="minGpuMemory")] = None,
    min_vcpus: Annotated[int | None, Query(alias="minVcpus")] = None,
) -> Any:
    report = query_offers(
        state.service.catalog,
        gpu=gpu,
        provider=provider,
        region=region,
        spot=spot,
        max_price=max_price,
        min_gpu_memory_gb=min_gpu_memory,
        min_vcpus=min_vcpus,
    )
    return OfferList.model_validate(report)
