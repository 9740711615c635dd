public enum DemoGuestsPlaceholder {}
