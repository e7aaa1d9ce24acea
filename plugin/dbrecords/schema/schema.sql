-- dbrecords schema: run once in an empty database (MySQL 8 or MariaDB 10.11+).
--
--   mysql DB < plugin/dbrecords/schema/schema.sql
--
-- Writers use plain INSERT, UPDATE and DELETE on dns_records. The triggers
-- below append the affected names to dns_records_changes in the same
-- transaction, and every dbrecords replica polls that log (by primary key, so
-- the cost does not grow with the table) to learn which names to re-read.
-- The plugin itself needs only SELECT on the three tables, and PROCESS to
-- prove gaps in the log dead (see the README, "Change tracking").
--
-- Applying this file again upgrades an older schema of dbrecords in place.
--
-- Names are ASCII and compared case-insensitively (ascii_general_ci), which the
-- plugin relies on when it re-reads a name in any letter case. content is the
-- RDATA in presentation form (docs/records.md), compared exactly (TXT values
-- are case-sensitive).

CREATE TABLE IF NOT EXISTS dns_records (
  id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name    VARCHAR(253)  CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  type    VARCHAR(10)   CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  content VARCHAR(4096) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  ttl     INT UNSIGNED NULL,
  PRIMARY KEY (id),
  KEY dns_records_name (name)
) ENGINE=InnoDB;

-- Upgrade: content was VARCHAR(45) (addresses only) before every record type
-- was served. Widening it rebuilds the table (ALTER TABLE copies its rows,
-- and writers wait on large tables); it runs only when the column is narrower.
DROP PROCEDURE IF EXISTS dns_records_widen_content;
DELIMITER //
CREATE PROCEDURE dns_records_widen_content()
BEGIN
  IF (SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dns_records' AND COLUMN_NAME = 'content') < 4096 THEN
    ALTER TABLE dns_records MODIFY content VARCHAR(4096) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
  END IF;
END //
DELIMITER ;
CALL dns_records_widen_content();
DROP PROCEDURE dns_records_widen_content;

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

-- The prune floor: every change-log entry below pruned_below may have been
-- deleted. A replica whose unread entries lie below it reads the whole table
-- again; without this row it could not tell a pruned log from one whose first
-- numbers belong to transactions still open.
CREATE TABLE IF NOT EXISTS dns_records_prune (
  id           TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  pruned_below BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB;
INSERT IGNORE INTO dns_records_prune (id, pruned_below) VALUES (1, 0);

-- Keep a day of changes. The procedure deletes the oldest entries in batches
-- of 5,000 by primary-key range, each its own short transaction, so writers
-- (who append at the other end of the key) never wait for it; it raises the
-- prune floor before it deletes. The event runs it every minute and needs the
-- event scheduler (event_scheduler=ON); otherwise CALL it from cron.
DROP EVENT IF EXISTS dns_records_changes_prune;
DROP PROCEDURE IF EXISTS dns_records_changes_prune;
DELIMITER //
CREATE PROCEDURE dns_records_changes_prune()
BEGIN
  DECLARE target BIGINT UNSIGNED DEFAULT NULL;
  DECLARE deleted INT DEFAULT 1;
  SELECT seq INTO target FROM dns_records_changes
    WHERE changed_at < NOW(6) - INTERVAL 1 DAY ORDER BY changed_at DESC LIMIT 1;
  IF target IS NOT NULL THEN
    UPDATE dns_records_prune SET pruned_below = GREATEST(pruned_below, target + 1) WHERE id = 1;
    WHILE deleted > 0 DO
      DELETE FROM dns_records_changes WHERE seq <= target ORDER BY seq LIMIT 5000;
      SET deleted = ROW_COUNT();
    END WHILE;
  END IF;
END //
DELIMITER ;

CREATE EVENT dns_records_changes_prune ON SCHEDULE EVERY 1 MINUTE DO
  CALL dns_records_changes_prune();

-- DNS UPDATE (RFC 2136, docs/updates.md): every name an update reads or
-- writes first takes the row of its hash here (at most 4,096 rows), so two
-- updates of one name, through any replica and on any Galera node, conflict
-- on a written row and one of them runs again; only the writer account of
-- the plugin's update block uses this table.
CREATE TABLE IF NOT EXISTS dns_records_update_locks (
  bucket SMALLINT UNSIGNED NOT NULL PRIMARY KEY,
  n      BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB;
-- Every bucket exists beforehand, so an update locks its rows and never the
-- gaps between them (which would make updates of unrelated names deadlock).
INSERT IGNORE INTO dns_records_update_locks (bucket, n)
  SELECT a.d * 512 + b.d * 64 + c.d * 8 + e.d, 0 FROM
    (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7) AS a,
    (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7) AS b,
    (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7) AS c,
    (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7) AS e;
