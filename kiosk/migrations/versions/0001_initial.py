"""initial schema: roster, photos, QC reports, sessions, users, batches, audit

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('imaging_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_units')),
    sa.UniqueConstraint('code', name=op.f('uq_imaging_units_code')),
    sa.UniqueConstraint('name', name=op.f('uq_imaging_units_name'))
    )
    op.create_table('org_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['org_units.id'], name=op.f('fk_org_units_parent_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_units')),
    sa.UniqueConstraint('code', name=op.f('uq_org_units_code')),
    sa.UniqueConstraint('parent_id', 'name', name=op.f('uq_org_units_parent_id_name'))
    )
    op.create_table('rate_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_events'))
    )
    with op.batch_alter_table('rate_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_events_key'), ['key'], unique=False)

    op.create_table('terms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('review_start', sa.Date(), nullable=True),
    sa.Column('review_end', sa.Date(), nullable=True),
    sa.Column('confirm_deadline', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terms')),
    sa.UniqueConstraint('code', name=op.f('uq_terms_code'))
    )
    op.create_table('stations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=True),
    sa.Column('camera', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_stations_org_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stations')),
    sa.UniqueConstraint('org_unit_id', 'name', name=op.f('uq_stations_org_unit_id_name'))
    )
    op.create_table('students',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('xh', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('gender', sa.String(length=4), nullable=True),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('id_legacy', sa.Boolean(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('major', sa.String(length=100), nullable=True),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('class_name', sa.String(length=100), nullable=True),
    sa.Column('enrol_date', sa.Date(), nullable=True),
    sa.Column('expected_grad_date', sa.Date(), nullable=True),
    sa.Column('collect_code', sa.Text(), nullable=True),
    sa.Column('collect_code_at', sa.DateTime(), nullable=True),
    sa.Column('reference_sha256', sa.String(length=64), nullable=True),
    sa.Column('reference_encoding', sa.LargeBinary(), nullable=True),
    sa.Column('reference_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['org_units.id'], name=op.f('fk_students_centre_id_org_units')),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_students_term_id_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_students')),
    sa.UniqueConstraint('term_id', 'id_number', name=op.f('uq_students_term_id_id_number')),
    sa.UniqueConstraint('term_id', 'xh', name=op.f('uq_students_term_id_xh'))
    )
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_students_centre_id'), ['centre_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_students_term_id'), ['term_id'], unique=False)
        batch_op.create_index('ix_students_term_id_name', ['term_id', 'name'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=True),
    sa.Column('imaging_unit_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['imaging_unit_id'], ['imaging_units.id'], name=op.f('fk_users_imaging_unit_id_imaging_units')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_users_org_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=True),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('term_id', sa.Integer(), nullable=True),
    sa.Column('photo_sha256', sa.String(length=64), nullable=True),
    sa.Column('station', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users')),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_audit_log_term_id_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_photo_sha256'), ['photo_sha256'], unique=False)

    op.create_table('batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=True),
    sa.Column('naming', sa.String(length=8), nullable=False),
    sa.Column('grouping', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('zip_name', sa.String(length=255), nullable=False),
    sa.Column('zip_sha256', sa.String(length=64), nullable=False),
    sa.Column('zip_size', sa.BigInteger(), nullable=False),
    sa.Column('photo_count', sa.Integer(), nullable=False),
    sa.Column('excluded', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_batches_created_by_id_users')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_batches_org_unit_id_org_units')),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_batches_term_id_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_term_id'), ['term_id'], unique=False)

    op.create_table('capture_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('camera', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('current_student_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['current_student_id'], ['students.id'], name=op.f('fk_capture_sessions_current_student_id_students')),
    sa.ForeignKeyConstraint(['operator_id'], ['users.id'], name=op.f('fk_capture_sessions_operator_id_users')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_capture_sessions_station_id_stations')),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_capture_sessions_term_id_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capture_sessions'))
    )
    with op.batch_alter_table('capture_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capture_sessions_term_id'), ['term_id'], unique=False)

    op.create_table('intake_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('imaging_unit_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=True),
    sa.Column('key', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_intake_jobs_created_by_id_users')),
    sa.ForeignKeyConstraint(['imaging_unit_id'], ['imaging_units.id'], name=op.f('fk_intake_jobs_imaging_unit_id_imaging_units')),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_intake_jobs_term_id_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_jobs'))
    )
    with op.batch_alter_table('intake_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_jobs_term_id'), ['term_id'], unique=False)

    op.create_table('photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('original_sha256', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=True),
    sa.Column('normalized', sa.Boolean(), nullable=False),
    sa.Column('transform', sa.JSON(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('qc_verdict', sa.String(length=16), nullable=True),
    sa.Column('profile', sa.String(length=64), nullable=True),
    sa.Column('face_encoding', sa.LargeBinary(), nullable=True),
    sa.Column('phash', sa.BigInteger(), nullable=True),
    sa.Column('identity_distance', sa.Float(), nullable=True),
    sa.Column('captured_at', sa.DateTime(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('station_id', sa.Integer(), nullable=True),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('intake_job_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('override', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_photos_decided_by_id_users')),
    sa.ForeignKeyConstraint(['intake_job_id'], ['intake_jobs.id'], name=op.f('fk_photos_intake_job_id_intake_jobs')),
    sa.ForeignKeyConstraint(['operator_id'], ['users.id'], name=op.f('fk_photos_operator_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['capture_sessions.id'], name=op.f('fk_photos_session_id_capture_sessions')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_photos_station_id_stations')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_photos_student_id_students')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photos')),
    sa.UniqueConstraint('student_id', 'version', name=op.f('uq_photos_student_id_version'))
    )
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photos_original_sha256'), ['original_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_photos_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_photos_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_photos_student_id'), ['student_id'], unique=False)
        batch_op.create_index('ux_photos_one_approved', ['student_id'], unique=True, sqlite_where=sa.text("status = 'approved'"), postgresql_where=sa.text("status = 'approved'"))

    op.create_table('batch_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('arcname', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_batch_items_batch_id_batches')),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_batch_items_photo_id_photos')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_batch_items_student_id_students')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_items')),
    sa.UniqueConstraint('batch_id', 'photo_id', name=op.f('uq_batch_items_batch_id_photo_id'))
    )
    with op.batch_alter_table('batch_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_items_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_items_photo_id'), ['photo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_items_student_id'), ['student_id'], unique=False)

    op.create_table('confirmations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.Column('result', sa.String(length=12), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_confirmations_photo_id_photos')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_confirmations_student_id_students')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_confirmations'))
    )
    with op.batch_alter_table('confirmations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_confirmations_student_id'), ['student_id'], unique=False)

    op.create_table('intake_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('xh', sa.String(length=32), nullable=True),
    sa.Column('student_id', sa.Integer(), nullable=True),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['intake_jobs.id'], name=op.f('fk_intake_files_job_id_intake_jobs')),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_intake_files_photo_id_photos')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_intake_files_student_id_students')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_files'))
    )
    with op.batch_alter_table('intake_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_files_job_id'), ['job_id'], unique=False)

    op.create_table('qc_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('profile_version', sa.String(length=32), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('elapsed_ms', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_qc_reports_photo_id_photos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qc_reports'))
    )
    with op.batch_alter_table('qc_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qc_reports_photo_id'), ['photo_id'], unique=False)

    op.create_table('review_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.Column('other_student_id', sa.Integer(), nullable=True),
    sa.Column('other_photo_id', sa.Integer(), nullable=True),
    sa.Column('distance', sa.Float(), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['other_photo_id'], ['photos.id'], name=op.f('fk_review_items_other_photo_id_photos')),
    sa.ForeignKeyConstraint(['other_student_id'], ['students.id'], name=op.f('fk_review_items_other_student_id_students')),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_review_items_photo_id_photos')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_review_items_resolved_by_id_users')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_review_items_student_id_students')),
    sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_review_items_term_id_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_items'))
    )
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_items_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_items_student_id'), ['student_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_items_term_id'), ['term_id'], unique=False)

    _audit_append_only()


def _audit_append_only() -> None:
    """The audit log is append-only: the database itself refuses UPDATE and DELETE."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_items_term_id'))
        batch_op.drop_index(batch_op.f('ix_review_items_student_id'))
        batch_op.drop_index(batch_op.f('ix_review_items_status'))

    op.drop_table('review_items')
    with op.batch_alter_table('qc_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qc_reports_photo_id'))

    op.drop_table('qc_reports')
    with op.batch_alter_table('intake_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_files_job_id'))

    op.drop_table('intake_files')
    with op.batch_alter_table('confirmations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_confirmations_student_id'))

    op.drop_table('confirmations')
    with op.batch_alter_table('batch_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_items_student_id'))
        batch_op.drop_index(batch_op.f('ix_batch_items_photo_id'))
        batch_op.drop_index(batch_op.f('ix_batch_items_batch_id'))

    op.drop_table('batch_items')
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_index('ux_photos_one_approved', sqlite_where=sa.text("status = 'approved'"), postgresql_where=sa.text("status = 'approved'"))
        batch_op.drop_index(batch_op.f('ix_photos_student_id'))
        batch_op.drop_index(batch_op.f('ix_photos_status'))
        batch_op.drop_index(batch_op.f('ix_photos_sha256'))
        batch_op.drop_index(batch_op.f('ix_photos_original_sha256'))

    op.drop_table('photos')
    with op.batch_alter_table('intake_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_jobs_term_id'))

    op.drop_table('intake_jobs')
    with op.batch_alter_table('capture_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capture_sessions_term_id'))

    op.drop_table('capture_sessions')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_term_id'))

    op.drop_table('batches')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_photo_sha256'))
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    op.drop_table('users')
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_index('ix_students_term_id_name')
        batch_op.drop_index(batch_op.f('ix_students_term_id'))
        batch_op.drop_index(batch_op.f('ix_students_centre_id'))

    op.drop_table('students')
    op.drop_table('stations')
    op.drop_table('terms')
    with op.batch_alter_table('rate_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_events_key'))
        batch_op.drop_index(batch_op.f('ix_rate_events_at'))

    op.drop_table('rate_events')
    op.drop_table('org_units')
    op.drop_table('imaging_units')
