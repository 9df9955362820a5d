"""The JSON-RPC protocol under the features: pygls' ``LanguageServerProtocol`` made robust against
bad input and strict about the lifecycle, with requests that ``$/cancelRequest`` really cancels
(``requests.CancellableRequests``). The bytes under it (framing, stdio, TCP) are ``transport.py``'s.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
from cattrs import transform_error
from cattrs.errors import ClassValidationError
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol, lsp_method

from diffusion_lsp.lsp.requests import CancellableRequests

log = logging.getLogger(__name__)


class DiffusionProtocol(CancellableRequests, LanguageServerProtocol):
    """pygls' protocol, changed where it strays from the spec or lets bad input through:

    - positions are always UTF-16 (what ``textops`` speaks);
    - open documents live in our ``DocumentStore`` only, not in pygls' workspace too;
    - requests before ``initialize`` has been answered get ``ServerNotInitialized``; notifications
      before it (``initialized`` included) are logged and dropped; a second ``initialize`` gets
      ``InvalidRequest`` and a second ``initialized`` is dropped;
    - a request whose params do not decode into the method's type gets ``InvalidParams`` (pygls
      logs it and never answers); a body that is not a JSON-RPC object is logged and dropped;
    - ``shutdown`` cancels what is still running and answers null (pygls' loop over its pending
      requests raised "dictionary changed size during iteration" when one was a command); requests
      after it get ``InvalidRequest``;
    - ``exit`` ends the serving loop with code 0 after ``shutdown`` and 1 without it (pygls raises
      ``SystemExit`` from inside a handler, which its own loop swallowed into 0).
    """

    _initialized = False  # initialize has been answered
    _initialized_seen = False  # the initialized notification has come

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            # UTF-16 is mandatory for every client; offering it alone makes pygls pick it.
            params = attrs.evolve(
                params,
                capabilities=attrs.evolve(
                    params.capabilities,
                    general=attrs.evolve(
                        general, position_encodings=[types.PositionEncodingKind.Utf16]
                    ),
                ),
            )
        result = yield from super().lsp_initialize(params)
        self._initialized = True
        return result

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any):
        current = self.msg_id
        if (handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield handler, args, None
        # Cancelling a future runs its callbacks at once, and they remove it from the dict.
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any):
        if (handler := self.fm.features.get(types.EXIT)) is not None:
            yield handler, args, None
        code = 0 if self._shutdown else 1
        if code:
            log.warning("exit without shutdown: exiting with code 1")
        self._server.request_exit(code)

    def handle_body(self, body: bytes) -> None:
        """One message body from the transport; nothing in it may stop the server."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than ~1000
            log.warning("dropped a message that is not JSON (%d bytes): %s", len(body), exc)
            return
        if not isinstance(data, dict) or data.get("jsonrpc") != self.VERSION:
            log.warning("dropped a message that is not a JSON-RPC 2.0 object: %.200r", data)
            return
        try:
            message = self.structure_message(data)
        except Exception as exc:  # noqa: BLE001 - answered or logged below
            self._undecodable(data, exc)
            return
        try:
            self.handle_message(message)
        except Exception:  # pygls answers handler errors itself; this is a bug in dispatch
            log.exception("could not dispatch %.200r", data)

    def _undecodable(self, data: dict[str, Any], exc: Exception) -> None:
        """``data`` does not decode into its method's types: answer a request with InvalidParams,
        fail the wait of a response, drop a notification."""
        method, msg_id = data.get("method"), data.get("id")
        cause = exc.__cause__ or exc
        try:
            detail = (
                "; ".join(transform_error(cause))
                if isinstance(cause, ClassValidationError)
                else str(cause)
            )
        except Exception:  # noqa: BLE001 - the detail is a courtesy
            detail = str(cause)
        valid_id = isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool)
        if isinstance(method, str) and valid_id:
            log.warning("request %s %s: params do not decode: %s", msg_id, method, detail)
            if self._shutdown:
                error: Exception = JsonRpcInvalidRequest(f"{method}: the server is shutting down")
            else:
                error = JsonRpcInvalidParams(f"{method}: invalid params: {detail}")
            self._send_response(msg_id, None, error.to_response_error())  # type: ignore[attr-defined]
        elif method is None and valid_id and (future := self._request_futures.pop(msg_id, None)):
            log.warning("the client's answer to %s does not decode: %s", msg_id, detail)
            future.set_exception(JsonRpcInternalError(f"the answer does not decode: {detail}"))
        else:
            log.warning("dropped %s: it does not decode: %s", method or "a message", detail)

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if self._shutdown and method not in (None, types.EXIT) and hasattr(message, "id"):
            error = JsonRpcInvalidRequest(f"{method}: the server is shutting down")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        if method_name == types.INITIALIZE and self._initialized:
            error = JsonRpcInvalidRequest("initialize: the server is initialized already")
            self._send_response(msg_id, None, error.to_response_error())
            return
        if not self._initialized and method_name != types.INITIALIZE:
            error = JsonRpcServerNotInitialized(f"{method_name}: the server is not initialized yet")
            self._send_response(msg_id, None, error.to_response_error())
            return
        super()._handle_request(msg_id, method_name, params)

    def _handle_notification(self, method_name: str, params: Any) -> None:
        if not self._initialized and method_name != types.EXIT:
            log.warning("ignoring %s before initialize", method_name)
            return
        if method_name == types.INITIALIZED:
            if self._initialized_seen:
                log.warning("ignoring a second initialized notification")
                return
            self._initialized_seen = True
        super()._handle_notification(method_name, params)
