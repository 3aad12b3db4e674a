"""Names of the files the Trainer writes into its artifacts, for the code that reads them back.

A leaf module: the run summary and the report import it without importing the Trainer.
"""

# In the model run dir: the per-epoch metrics and the eval RMSE of the weights kept.
HISTORY_FILE = 'training_history.json'
# In the history: the bias baseline's chosen regularisation and its eval RMSE.
BIAS_BASELINE = 'bias_baseline'
