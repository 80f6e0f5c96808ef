-- A turn keeps its reply's gestures beside its cues (what Gesture.stored() keeps). Turns stored before
-- this have none; a process of an older Mien still writing here leaves the default.
ALTER TABLE turns ADD COLUMN gestures jsonb NOT NULL DEFAULT '[]';
