"""station node: station tokens, sync receipts (central), outbox and sync state (node)

A station node is the same service on a station's computer, capturing offline and
syncing later.  On the central server ``station_tokens`` holds the nodes' credentials
(hashed, scoped to a term and a unit) and ``sync_receipts`` every outbox entry applied
(unique ``entry_id``: a second push of the same entry records nothing).  On the node
``sync_outbox`` holds what is still to send and ``sync_state`` its small state.
``students.withdrawn_at`` marks a student taken off the roster (kept, never deleted).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'station_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('term_id', sa.Integer(), nullable=False),
        sa.Column('org_unit_id', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_by', sa.String(length=80), nullable=True),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_station_tokens_org_unit_id_org_units')),
        sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_station_tokens_term_id_terms')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_station_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_station_tokens_token_hash')),
    )
    op.create_table(
        'sync_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.String(length=80), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('node_photo', sa.String(length=80), nullable=True),
        sa.Column('photo_id', sa.Integer(), nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_sync_receipts_photo_id_photos')),
        sa.ForeignKeyConstraint(['token_id'], ['station_tokens.id'],
                                name=op.f('fk_sync_receipts_token_id_station_tokens')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_receipts')),
        sa.UniqueConstraint('entry_id', name=op.f('uq_sync_receipts_entry_id')),
    )
    with op.batch_alter_table('sync_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_receipts_node_photo'), ['node_photo'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_receipts_token_id'), ['token_id'], unique=False)
    op.create_table(
        'sync_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.String(length=80), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('blobs', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('error_code', sa.String(length=32), nullable=True),
        sa.Column('error_message', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_outbox')),
        sa.UniqueConstraint('entry_id', name=op.f('uq_sync_outbox_entry_id')),
    )
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_outbox_status'), ['status'], unique=False)
    op.create_table(
        'sync_state',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_sync_state')),
    )
    # Plain ADD COLUMN: batch mode would recreate ``students``, which many tables reference.
    op.add_column('students', sa.Column('withdrawn_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
    op.drop_table('sync_state')
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_outbox_status'))
    op.drop_table('sync_outbox')
    with op.batch_alter_table('sync_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_receipts_token_id'))
        batch_op.drop_index(batch_op.f('ix_sync_receipts_node_photo'))
    op.drop_table('sync_receipts')
    op.drop_table('station_tokens')
