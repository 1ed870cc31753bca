"""Web layer: one blueprint per audience, shared auth, CSRF, language, errors."""
from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from .. import i18n

csrf = CSRFProtect()


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def api_error(code: str, message: str, status: int):
    """The one error shape of the JSON API."""
    return jsonify({"ok": False, "error": {"code": code, "message": message}}), status


def page_url(page: int) -> str:
    """This page's URL with ``page`` replaced, every other query argument kept (pagers)."""
    args = request.args.to_dict(flat=False)
    args["page"] = [str(page)]
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def init_web(app: Flask) -> None:
    csrf.init_app(app)

    @app.before_request
    def _lang():
        lang = request.args.get("lang")
        if lang in i18n.LANGS:
            session["lang"] = lang
        g.lang = session.get("lang") or app.config.get("DEFAULT_LANG", "zh")

    @app.context_processor
    def _inject():
        from .auth import current_user  # noqa: PLC0415

        return {"_": i18n._, "lang": i18n.current_lang(), "current_user": current_user(),
                "status_label": i18n.status_label, "school_name": app.config.get("SCHOOL_NAME"),
                "page_url": page_url}

    from .auth import bp as auth_bp, load_user  # noqa: PLC0415

    app.before_request(load_user)
    app.register_blueprint(auth_bp)

    from .public import bp as public_bp  # noqa: PLC0415
    from .admin import bp as admin_bp  # noqa: PLC0415
    from .api import bp as api_bp  # noqa: PLC0415

    app.register_blueprint(public_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api/v1")

    from .selfcheck import bp as selfcheck_bp  # noqa: PLC0415
    from .review import bp as review_bp  # noqa: PLC0415
    from .coverage import bp as coverage_bp  # noqa: PLC0415
    from .batches import bp as batches_bp  # noqa: PLC0415
    from .unit import bp as unit_bp  # noqa: PLC0415

    app.register_blueprint(selfcheck_bp, url_prefix="/check")
    app.register_blueprint(review_bp, url_prefix="/review")
    app.register_blueprint(coverage_bp, url_prefix="/admin/coverage")
    app.register_blueprint(batches_bp, url_prefix="/admin/batches")
    app.register_blueprint(unit_bp, url_prefix="/unit")

    from .identity import bp as identity_bp  # noqa: PLC0415

    app.register_blueprint(identity_bp, url_prefix="/identity")

    from .station import api_bp as station_api_bp, bp as station_bp  # noqa: PLC0415

    app.register_blueprint(station_bp, url_prefix="/station")
    app.register_blueprint(station_api_bp, url_prefix="/api/v1/station")

    from .sync import bp as sync_bp, conflicts_bp, node_bp, tokens_bp  # noqa: PLC0415

    app.register_blueprint(sync_bp, url_prefix="/api/v1/sync")
    app.register_blueprint(node_bp, url_prefix="/api/v1/node")
    app.register_blueprint(tokens_bp, url_prefix="/admin/station-tokens")
    app.register_blueprint(conflicts_bp, url_prefix="/review/sync-conflicts")

    from .. import db  # noqa: PLC0415

    def _rollback():
        s = g.get("db_session")
        if s is not None:
            s.rollback()

    def _error(code: str, status: int, message: str):
        _rollback()
        if wants_json():
            return api_error(code, message, status)
        return render_template("error.html", code=status, message=message), status

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return _error("csrf", 400, i18n._("表单已过期或无效，请刷新页面后重试"))

    @app.errorhandler(404)
    def _404(e):
        return _error("not_found", 404, i18n._("页面不存在"))

    @app.errorhandler(403)
    def _403(e):
        return _error("forbidden", 403, i18n._("没有权限访问该页面"))

    @app.errorhandler(413)
    def _413(e):
        return _error("too_large", 413, "上传的文件太大" if i18n.current_lang() == "zh" else "The upload is too large")

    @app.errorhandler(500)
    def _500(e):
        app.logger.exception("unhandled error")
        return _error("internal", 500, i18n._("服务器内部错误，操作未保存，请重试"))

    del db
