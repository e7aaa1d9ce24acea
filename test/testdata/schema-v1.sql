-- The first schema of dbrecords (commit 6637e4c), kept to test that
-- `dbrecords schema apply` upgrades it in place.
-- dbrecords schema: run once in an empty database (MySQL 8 or MariaDB 10.11+).
--
--   mysql DB < plugin/dbrecords/schema.sql
--
-- Writers use plain INSERT, UPDATE and DELETE on dns_records. The triggers
-- below append the affected names to dns_records_changes in the same
-- transaction, and every dbrecords replica polls that log (by primary key, so
-- the cost does not grow with the table) to learn which names to re-read.
-- The plugin itself needs only SELECT on both tables.
--
-- Names are ASCII and compared case-insensitively (ascii_general_ci), which the
-- plugin relies on when it re-reads a name in any letter case.

CREATE TABLE IF NOT EXISTS dns_records (
  id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name    VARCHAR(253) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  type    VARCHAR(10)  CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  content VARCHAR(45)  CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  ttl     INT UNSIGNED NULL,
  PRIMARY KEY (id),
  KEY dns_records_name (name)
) ENGINE=InnoDB;

-- One row per changed name. seq orders the log; changed_at is for pruning.
CREATE TABLE IF NOT EXISTS dns_records_changes (
  seq        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name       VARCHAR(253) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  changed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (seq),
  KEY dns_records_changes_changed_at (changed_at)
) ENGINE=InnoDB;

DROP TRIGGER IF EXISTS dns_records_after_insert;
DROP TRIGGER IF EXISTS dns_records_after_update;
DROP TRIGGER IF EXISTS dns_records_after_delete;

CREATE TRIGGER dns_records_after_insert AFTER INSERT ON dns_records FOR EACH ROW
  INSERT INTO dns_records_changes (name) VALUES (NEW.name);

-- An UPDATE may rename a row, so both names are logged (the plugin reads each
-- name once per poll). A multi-row VALUES list, unlike INSERT ... SELECT, takes
-- exactly the sequence numbers it uses, so it leaves no gaps in seq.
CREATE TRIGGER dns_records_after_update AFTER UPDATE ON dns_records FOR EACH ROW
  INSERT INTO dns_records_changes (name) VALUES (OLD.name), (NEW.name);

CREATE TRIGGER dns_records_after_delete AFTER DELETE ON dns_records FOR EACH ROW
  INSERT INTO dns_records_changes (name) VALUES (OLD.name);

-- Keep a day of changes. A replica that was away longer notices (the log's
-- lowest seq is past its position) and reloads the whole table. The newest
-- row is always kept, so the log's position survives pruning. Needs the event
-- scheduler (event_scheduler=ON); otherwise run the DELETE from cron.
DROP EVENT IF EXISTS dns_records_changes_prune;
CREATE EVENT dns_records_changes_prune ON SCHEDULE EVERY 1 MINUTE DO
  DELETE FROM dns_records_changes
  WHERE changed_at < NOW(6) - INTERVAL 1 DAY
    AND seq < (SELECT top FROM (SELECT MAX(seq) AS top FROM dns_records_changes) AS newest)
  ORDER BY seq LIMIT 100000;
