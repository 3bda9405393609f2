"""The local review app: queues of findings, decisions stored in the workspace.

``assay review`` starts it; :func:`create_app` builds the FastAPI app (extra ``app``) for one
audit run. See ``docs/review.md`` for the workflow, keyboard shortcuts and the security model.
"""

from assay.app._queues import QUEUES, STAGES, ReviewSession, load_session, stored_audit
from assay.app._server import ACTIONS, LIMITS, create_app, review_agreement, reviewer_problem

__all__ = ["ACTIONS", "LIMITS", "QUEUES", "STAGES", "ReviewSession", "create_app",
           "load_session", "review_agreement", "reviewer_problem", "stored_audit"]
