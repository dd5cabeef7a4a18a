"""The HTTP side of `kinema serve`: a FastAPI app over the job queue (kinema.server.jobs).

The web process never generates: it validates requests against the server's stated limits,
queues jobs, and reports on them (JSON, server-sent events, the mp4). Worker processes
(kinema.server.worker) do the generating. Its own OpenAPI schema is at /openapi.json.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Path as PathParam, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from kinema.server.jobs import TERMINAL, JobStore, QueueFull
from kinema.server.uploads import Uploads

PAGE = Path(__file__).with_name("page.html")
JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="a job id: 32 hex digits")]


@dataclass(frozen=True)
class Limits:
    """What the server accepts; stated at GET /api/limits and enforced before any work."""
    max_size: int = 256
    max_seconds: float = 8.0
    max_fps: float = 24.0
    max_steps: int = 100
    max_prompt: int = 500
    max_queued: int = 64
    max_candidates: int = 8
    max_body: int = 16_384  # bytes of a request body
    max_upload: int = 8_000_000  # bytes of a picture or clip sent to POST /api/uploads
    given_frames: bool = True  # whether the model goes on from given frames (pictures, clips, storyboards)
    model_seconds: float = 2.0  # the model's own clip length: a clip ending on a picture is at most this long
    size_multiple: int = 2  # sizes the model makes are multiples of this (16 for a Wan model)
    directs: bool = False  # whether the model follows tracks and a camera, and plans (kinema.pipeline.plan)
    student: bool = False  # whether the model has a few-step student


def _request_fields() -> dict:
    """The job request's fields: the prompt, then one per ClipSettings field, with its bounds (the CLI's options
    come from the same fields: kinema.pipeline.settings)."""
    from kinema.pipeline.settings import ClipSettings, bounds

    out = {"prompt": (str, Field("", max_length=2000, description="what the video shows (with a storyboard: may be "
                                                                  "left out)"))}
    for f in fields(ClipSettings):
        b = bounds()[f.name]
        kind = eval_type(f.type)
        if f.name == "seed":  # the API draws one when left out
            out["seed"] = (int | None, Field(None, ge=b.lo, le=b.hi, description=b.help + " (random when left out)"))
            continue
        if kind in (bool, bool | None):
            out[f.name] = (kind, Field(f.default, description=b.help))
        elif b.choices is not None:
            kind = Literal[b.choices] | None
            out[f.name] = (kind, Field(f.default, description=b.help))
        elif b.max_len is not None:
            out[f.name] = (kind, Field(f.default, max_length=b.max_len, description=b.help))
        else:
            lo = {"gt": b.lo} if b.lo_open else {"ge": b.lo}
            if f.name == "guidance_interval":  # a pair: each in [lo, hi] (checked by check_clip, with lo < hi)
                out[f.name] = (kind, Field(f.default, description=b.help))
            else:
                out[f.name] = (kind, Field(f.default, **lo, le=b.hi, description=b.help))
    return out


def eval_type(annotation: str):
    """A dataclass field's annotation (a string under `from __future__ import annotations`) as a type."""
    return {"int": int, "float": float, "str": str, "bool": bool, "bool | None": bool | None, "int | None": int | None,
            "float | None": float | None, "str | None": str | None,
            "tuple[float, float] | None": tuple[float, float] | None}[annotation]


class StoryPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(max_length=2000)
    seconds: float = Field(gt=0)


UploadId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
GIVEN = {  # what a clip may be given besides its prompt (kinema.pipeline.inputs), as the job holds it
    "image": (UploadId | None, Field(None, description="an uploaded picture (POST /api/uploads): the clip's frame 0")),
    "last_image": (UploadId | None, Field(None, description="an uploaded picture the clip ends on")),
    "extend": (UploadId | None, Field(None, description="an uploaded video, or a finished job, the clip goes on from "
                                                        "(the output holds its frames, then `seconds` more)")),
    "storyboard": (list[StoryPart] | None, Field(None, min_length=1, max_length=20,
                                                 description="parts told one after the other in one clip")),
    "tracks": (dict | None, Field(None, description='where objects go: {"tracks": [{"object": 0, "points": [[t, x, y], '
                                                    '...]}]} (the shapes world\'s track format), over the plan')),
}
JobRequest = create_model("JobRequest", __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [
    {"prompt": "a red ball bouncing on a white background", "seconds": 2, "size": 128, "fps": 16}]}),
    **_request_fields(), **GIVEN)
_settings_fields = {k: v for k, v in _request_fields().items() if k not in ("prompt", "seed")} | GIVEN


def printable(value) -> str | int:
    """A value safe to put in a JSON answer: ints as they are, anything else as text without lone surrogates."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


class Progress(BaseModel):
    step: int
    total: int


class JobState(BaseModel):
    id: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    prompt: str
    seed: int
    progress: Progress
    created: float
    started: float | None
    finished: float | None
    attempts: int
    cancel_requested: bool
    error: str | None
    timings: dict[str, float] | None


Job = create_model("Job", __base__=JobState, **_settings_fields)  # the request's settings, as the job holds them


class JobList(BaseModel):
    jobs: list[Job]
    counts: dict[str, int]


class Health(BaseModel):
    ok: bool
    counts: dict[str, int]


class Upload(BaseModel):
    id: str
    kind: Literal["image", "video"]
    bytes: int
    width: int
    height: int
    frames: int
    fps: float | None = None


class BodyLimit:
    """ASGI middleware: 413 for request bodies over `limit` bytes (`upload_limit` for POST /api/uploads), declared
    or streamed."""

    def __init__(self, app, limit: int, upload_limit: int):
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit if scope.get("path") == "/api/uploads" else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await JSONResponse({"detail": f"request body over {limit} bytes"}, 413)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        return await self.app(scope, limited, send)


def create_app(data_dir: str | Path, limits: Limits = Limits(), token: str | None = None,
               model_name: str = "default") -> FastAPI:
    store, uploads = JobStore(data_dir), Uploads(Path(data_dir) / "uploads")
    app = FastAPI(title="kinema", version="1", description="Text to video: a job queue over kinema's pipeline.")
    app.add_middleware(BodyLimit, limit=limits.max_body, upload_limit=limits.max_upload)
    app.state.store, app.state.limits = store, limits

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with where and what, never the rejected input itself (it may be NaN, or text that is not
        Unicode, which JSON cannot carry back)."""
        return JSONResponse({"detail": [{"loc": [printable(part) for part in e.get("loc", ())],
                                         "msg": printable(e.get("msg", "invalid")), "type": printable(e.get("type", ""))}
                                        for e in exc.errors()]}, status_code=422)

    def check_token(request: Request) -> None:
        if not token:
            return
        given = request.headers.get("x-kinema-token") or request.query_params.get("token") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:]
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong access token")

    api = [Depends(check_token)]

    def found(job: dict | None) -> dict:
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(), headers={"Cache-Control": "no-store"})

    @app.get("/api/health", response_model=Health, dependencies=api)
    def health() -> dict:
        return {"ok": True, "counts": store.counts()}

    @app.get("/api/limits", dependencies=api)
    def get_limits() -> dict:
        return asdict(limits) | {"model": model_name}

    @app.post("/api/jobs", response_model=Job, status_code=201, dependencies=api,
              responses={422: {"description": "outside the server's limits"}, 429: {"description": "queue full"}})
    def create_job(req: JobRequest) -> dict:
        from kinema.pipeline.inputs import storyboard_prompt
        from kinema.pipeline.settings import ClipSettings, check_clip

        problems = []
        parts = [p.model_dump() for p in req.storyboard] if req.storyboard else None
        prompts = [req.prompt, req.negative] + [p["prompt"] for p in parts or []]
        if max(len(p) for p in prompts) > limits.max_prompt:
            problems.append(f"prompts are limited to {limits.max_prompt} characters")
        if req.size > limits.max_size:
            problems.append(f"size is limited to {limits.max_size}")
        if limits.size_multiple > 2 and req.size % limits.size_multiple:  # (even: checked with the settings)
            problems.append(f"size must be a multiple of {limits.size_multiple} for this model")
        if req.tracks is not None or req.camera is not None:
            problems += directing_problems(req)
        if (sum(p["seconds"] for p in parts) if parts else req.seconds) > limits.max_seconds:
            problems.append(f"seconds are limited to {limits.max_seconds:g}")
        if req.fps > limits.max_fps:
            problems.append(f"fps is limited to {limits.max_fps:g}")
        if req.steps is not None and req.steps > limits.max_steps:
            problems.append(f"steps are limited to {limits.max_steps}")
        if req.candidates is not None and req.candidates > limits.max_candidates:
            problems.append(f"candidates are limited to {limits.max_candidates}")
        if req.denoiser == "student" and not limits.student:
            problems.append("this model has no few-step student: leave denoiser out, or ask for the teacher")
        settings = req.model_dump()
        settings["prompt"] = req.prompt.strip() or (storyboard_prompt(p["prompt"] for p in parts) if parts else "")
        settings["seed"] = random.randrange(2**31) if req.seed is None else req.seed
        if not problems:
            try:
                clip = ClipSettings(**{k: v for k, v in settings.items() if k not in ("prompt", *GIVEN)})
                check_clip(settings["prompt"], clip)
                check_given(req, parts, clip)
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise HTTPException(422, "; ".join(problems))
        try:
            return store.create(settings, limits.max_queued)
        except QueueFull as e:
            raise HTTPException(429, str(e), headers={"Retry-After": "5"}) from None

    def directing_problems(req) -> list[str]:
        """What stops a job's tracks or camera from being followed, before it is queued (the tracks' objects are
        checked against the prompt once the worker's planner has read it)."""
        from kinema.world.tracks import check_tracks

        if not limits.directs:
            return [f"the model {model_name} cannot be directed (tracks, camera): it has no planner or its denoiser "
                    "takes no layout"]
        if req.tracks is not None:
            try:
                check_tracks(req.tracks, [None, None], caption=False)
            except ValueError as e:
                return [f"tracks: {e}"]
        return []

    def check_given(req, parts: list | None, clip) -> None:
        """What the job is given, checked as the CLI checks its files: each upload there and of the right kind, a job
        to extend finished with its video, the storyboard's parts; ValueError naming the field."""
        from kinema.pipeline.inputs import check_combination, check_storyboard

        if req.image is None and req.last_image is None and req.extend is None and parts is None:
            return
        check_combination(req.image is not None, req.last_image is not None, req.extend is not None, parts is not None,
                          req.tracks is not None or req.camera is not None)
        if not limits.given_frames:
            raise ValueError(f"the model {model_name} was not trained to go on from given frames: it makes clips "
                             f"of up to {limits.model_seconds:g} s from text alone")
        for name in ("image", "last_image"):
            upload = uploads.get(getattr(req, name)) if getattr(req, name) else None
            if getattr(req, name) and (upload is None or upload["kind"] != "image"):
                raise ValueError(f"{name}: no uploaded picture {getattr(req, name)} (POST it to /api/uploads first)")
        if req.last_image is not None and req.seconds > limits.model_seconds:
            raise ValueError(f"a last picture ends a clip of at most {limits.model_seconds:g} s (the model's own "
                             f"length), not {req.seconds:g} s")
        if req.extend is not None:
            upload, job = uploads.get(req.extend), store.get(req.extend)
            if upload is not None and upload["kind"] != "video":
                raise ValueError(f"extend: upload {req.extend} is a picture; give it as image")
            if upload is None and (job is None or job["state"] != "done" or not store.video_path(req.extend).is_file()):
                raise ValueError(f"extend: no uploaded video or finished job {req.extend}")
        if parts is not None:
            check_storyboard(parts, clip)

    @app.post("/api/uploads", response_model=Upload, status_code=201, dependencies=api,
              responses={413: {"description": "over max_upload bytes"},
                         422: {"description": "not a picture or a video kinema can read"}})
    async def upload(request: Request) -> dict:
        """A picture or a clip for jobs to start from (image, last_image, extend): the raw file as the body, checked
        whole before it is kept. Returns its id."""
        data = await request.body()
        if not data:
            raise HTTPException(422, "send the picture or video file as the request body")
        try:
            return await asyncio.to_thread(uploads.add, data)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

    @app.get("/api/jobs", response_model=JobList, dependencies=api)
    def list_jobs(limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                  state: Literal["queued", "running", "done", "failed", "cancelled"] | None = None) -> dict:
        return {"jobs": store.list(limit, offset, state), "counts": store.counts()}

    @app.get("/api/jobs/{job_id}", response_model=Job, dependencies=api, responses={404: {"description": "no such job"}})
    def get_job(job_id: JobId) -> dict:
        return found(store.get(job_id))

    @app.post("/api/jobs/{job_id}/cancel", response_model=Job, dependencies=api,
              responses={404: {"description": "no such job"}})
    def cancel_job(job_id: JobId) -> dict:
        found(store.get(job_id))
        return found(store.cancel(job_id))

    @app.delete("/api/jobs/{job_id}", status_code=204, dependencies=api, responses={404: {"description": "no such job"}})
    def delete_job(job_id: JobId) -> Response:
        if not store.delete(job_id):
            raise HTTPException(404, "no such job")
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/video", dependencies=api, response_class=FileResponse,
             responses={200: {"content": {"video/mp4": {}}}, 404: {"description": "no such job"},
                        409: {"description": "not done"}})
    def job_video(job_id: JobId, download: bool = False) -> FileResponse:
        job = found(store.get(job_id))
        path = store.video_path(job_id)
        if job["state"] != "done" or not path.is_file():
            raise HTTPException(409, f"the job is {job['state']}, there is no video yet")
        name = f"kinema-{job_id[:8]}-seed{job['seed']}.mp4"
        return FileResponse(path, media_type="video/mp4", filename=name if download else None)

    @app.get("/api/jobs/{job_id}/plan", dependencies=api,
             responses={404: {"description": "no such job, or its clip had no plan"}, 409: {"description": "not done"}})
    def job_plan(job_id: JobId) -> dict:
        """Where the finished clip's objects went (kinema.pipeline.plan, from its video's metadata): what the planner
        read, the camera, and each object's track in the spec's format, which a new job takes back as `tracks`."""
        from kinema.io.video import read_metadata

        job = found(store.get(job_id))
        path = store.video_path(job_id)
        if job["state"] != "done" or not path.is_file():
            raise HTTPException(409, f"the job is {job['state']}, there is no plan to show yet")
        plan = read_metadata(path).get("layout")
        if plan is None:
            raise HTTPException(404, "this clip was made without a plan")
        return plan

    @app.get("/api/jobs/{job_id}/frames/{k}", dependencies=api, response_class=Response,
             responses={200: {"content": {"image/png": {}}}, 404: {"description": "no such frame (yet, or any more)"}})
    def job_frame(job_id: JobId, k: Annotated[int, PathParam(ge=0, le=100_000)]) -> Response:
        """Frame k of a running job, as soon as it is made (the `frames` events count them); gone once the job ends
        (its video has them all)."""
        try:
            data = store.preview_path(job_id, k).read_bytes()
        except OSError:
            raise HTTPException(404, "no such frame") from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/events", dependencies=api, response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}, 404: {"description": "no such job"}})
    async def job_events(job_id: JobId, request: Request) -> StreamingResponse:
        found(store.get(job_id))

        async def events():
            last, quiet, frames = None, 0.0, 0
            while True:
                job = await asyncio.to_thread(store.get, job_id)
                if job is None:
                    yield "event: deleted\ndata: {}\n\n"
                    return
                ready = await asyncio.to_thread(store.preview_count, job_id) if job["state"] == "running" else 0
                if ready > frames:  # frames made so far: GET /api/jobs/{id}/frames/{k}
                    frames, quiet = ready, 0.0
                    yield f"event: frames\ndata: {json.dumps({'count': ready, 'fps': job['fps']})}\n\n"
                key = (job["state"], job["progress"]["step"])
                if key != last:
                    last, quiet = key, 0.0
                    yield f"event: job\ndata: {json.dumps(job)}\n\n"
                if job["state"] in TERMINAL:
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)
                quiet += 0.2
                if quiet >= 10:
                    quiet = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return app
