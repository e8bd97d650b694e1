"""Statistics fitted on a training field, which a model keeps: the background
(:mod:`.background`: time mean or seasonal cycle), the anomalies' local covariance table
(:mod:`.covariance`) and lag correlation (:mod:`.lag`), all from the field's maps filled by the
first guess (:mod:`.filled`)."""
